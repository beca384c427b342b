//! Rules of the department tree.

use uuid::Uuid;

use crate::DomainError;

/// Setting `new_parent` as the parent of `department` must not close a loop.
/// `ancestors_of_new_parent` walks up from the new parent (itself first) to the root.
pub fn check_parent(
    department: Uuid,
    new_parent: Option<Uuid>,
    ancestors_of_new_parent: &[Uuid],
) -> Result<(), DomainError> {
    match new_parent {
        Some(parent) if parent == department || ancestors_of_new_parent.contains(&department) => {
            Err(DomainError::DepartmentCycle)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_itself_and_descendants_as_parent() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            check_parent(a, Some(a), &[a]),
            Err(DomainError::DepartmentCycle)
        );
        // c's chain is c → b → a: making c the parent of a would loop.
        assert_eq!(
            check_parent(a, Some(c), &[c, b, a]),
            Err(DomainError::DepartmentCycle)
        );
        assert_eq!(check_parent(c, Some(a), &[a]), Ok(()));
        assert_eq!(check_parent(c, None, &[]), Ok(()));
    }
}
