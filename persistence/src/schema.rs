//! The tables, one definition for both stores (ids are `DbUuid`, times are UTC `Timestamp`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    departments (id) {
        id -> DbUuid,
        code -> Text,
        name -> Text,
        parent_id -> Nullable<DbUuid>,
        head_user_id -> Nullable<DbUuid>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        external_id -> Nullable<Text>,
        deprovisioned_at -> Nullable<Timestamp>,
        scim_client_id -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    users (id) {
        id -> DbUuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        department_id -> Nullable<DbUuid>,
        roles -> Text,
        clearance -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        external_id -> Nullable<Text>,
        deprovisioned_at -> Nullable<Timestamp>,
        scim_client_id -> Nullable<DbUuid>,
        disabled_by_admin -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    sessions (id) {
        id -> DbUuid,
        user_id -> DbUuid,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> DbUuid,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttles (username_key) {
        username_key -> Text,
        failures -> Integer,
        window_started_at -> Nullable<Timestamp>,
        locked_until -> Nullable<Timestamp>,
        lockouts -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    login_failures (id) {
        id -> DbUuid,
        address -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    audit_pending (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<DbUuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        data -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    audit_events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<DbUuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        data -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::{DbUuid, TsVector};

    /// `seq` is the catalogue order (and SQLite's full-text rowid), given by the store on insert.
    /// `search_vector` exists on PostgreSQL only (SQLite keeps the tokens in `archives_fts`).
    archives (id) {
        seq -> BigInt,
        id -> DbUuid,
        archive_code -> Text,
        barcode -> Text,
        title -> Text,
        description -> Nullable<Text>,
        category -> Text,
        classification -> Text,
        medium -> Text,
        department_id -> Nullable<DbUuid>,
        location -> Text,
        year -> Nullable<Integer>,
        pages -> Nullable<Integer>,
        status -> Text,
        search_text -> Text,
        search_vector -> Nullable<TsVector>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        fonds_id -> Nullable<DbUuid>,
        category_code -> Nullable<Text>,
        retention -> Nullable<Text>,
        retention_ends_on -> Nullable<Text>,
        opening -> Text,
        opens_on -> Nullable<Text>,
        kind -> Text,
        volume_id -> Nullable<DbUuid>,
        org_code -> Nullable<Text>,
        series_code -> Nullable<Text>,
        location_id -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    locations (id) {
        id -> DbUuid,
        parent_id -> Nullable<DbUuid>,
        code -> Text,
        name -> Text,
        barcode -> Text,
        path -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    fonds (id) {
        id -> DbUuid,
        number -> Text,
        name -> Text,
        formed_by -> Nullable<Text>,
        start_year -> Nullable<Integer>,
        end_year -> Nullable<Integer>,
        is_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    archive_categories (code) {
        code -> Text,
        name -> Text,
        rule -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    archive_code_counters (group_key) {
        group_key -> Text,
        last_number -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    idempotency_keys (user_id, key) {
        user_id -> DbUuid,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        body -> Nullable<Binary>,
        created_at -> Timestamp,
        location -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loan_policies (id) {
        id -> DbUuid,
        name -> Text,
        priority -> Integer,
        match_rules -> Text,
        approval_steps -> Text,
        max_days -> Integer,
        max_renewals -> Integer,
        renewal_requires_approval -> Bool,
        allowed_loan_types -> Text,
        dual_signoff_on_return -> Bool,
        pickup_days -> Integer,
        unmarked_copies -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    form_fields (id) {
        id -> DbUuid,
        key -> Text,
        label -> Text,
        field_type -> Text,
        required -> Bool,
        options -> Text,
        categories -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    delegations (id) {
        id -> DbUuid,
        delegator_id -> DbUuid,
        delegate_id -> DbUuid,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    request_numbers (year) {
        year -> Integer,
        last_number -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loan_requests (id) {
        id -> DbUuid,
        number -> Text,
        borrower_id -> DbUuid,
        purpose -> Text,
        loan_type -> Text,
        days -> Integer,
        fields -> Text,
        status -> Text,
        rules -> Text,
        approved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    request_items (request_id, position) {
        request_id -> DbUuid,
        position -> Integer,
        archive_id -> DbUuid,
        status -> Text,
        reserved_until -> Nullable<Timestamp>,
        loan_id -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    request_steps (request_id, step_index) {
        request_id -> DbUuid,
        step_index -> Integer,
        name -> Text,
        status -> Text,
        decided_by -> Nullable<DbUuid>,
        on_behalf_of -> Nullable<DbUuid>,
        comment -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        approver_role -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    step_approvers (request_id, step_index, user_id) {
        request_id -> DbUuid,
        step_index -> Integer,
        user_id -> DbUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loans (id) {
        id -> DbUuid,
        request_id -> DbUuid,
        archive_id -> DbUuid,
        borrower_id -> DbUuid,
        status -> Text,
        checked_out_at -> Timestamp,
        checked_out_by -> DbUuid,
        due_at -> Timestamp,
        renewals -> Integer,
        signed_at -> Nullable<Timestamp>,
        signed_by -> Nullable<DbUuid>,
        signature_method -> Nullable<Text>,
        signature_digest -> Nullable<Text>,
        signed_voucher -> Nullable<Text>,
        returned_at -> Nullable<Timestamp>,
        condition -> Nullable<Text>,
        return_notes -> Nullable<Text>,
        inspected_by -> Nullable<DbUuid>,
        inspected_at -> Nullable<Timestamp>,
        confirmed_by -> Nullable<DbUuid>,
        updated_at -> Timestamp,
        version -> Integer,
        verification_code -> Nullable<Text>,
        kind -> Text,
        end_reason -> Nullable<Text>,
        unmarked_copies -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loan_renewals (id) {
        id -> DbUuid,
        loan_id -> DbUuid,
        days -> Integer,
        reason -> Nullable<Text>,
        status -> Text,
        requested_at -> Timestamp,
        decided_by -> Nullable<DbUuid>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    incidents (id) {
        id -> DbUuid,
        loan_id -> DbUuid,
        archive_id -> DbUuid,
        kind -> Text,
        notes -> Nullable<Text>,
        reported_by -> DbUuid,
        created_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    notifications (id) {
        id -> DbUuid,
        user_id -> DbUuid,
        kind -> Text,
        subject -> Text,
        body -> Text,
        entity_type -> Text,
        entity_id -> DbUuid,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        email_status -> Nullable<Text>,
        email_attempts -> Integer,
        email_next_at -> Nullable<Timestamp>,
        email_error -> Nullable<Text>,
    }
}

diesel::table! {
    reminders (kind, entity_key, rung) {
        kind -> Text,
        entity_key -> Text,
        rung -> BigInt,
        sent_at -> Timestamp,
        recipients -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    webhooks (id) {
        id -> DbUuid,
        url -> Text,
        events -> Text,
        secret -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        created_by -> DbUuid,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        max_classification -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    webhook_deliveries (id) {
        id -> DbUuid,
        webhook_id -> DbUuid,
        event -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    webhook_attempts (delivery_id, attempt) {
        delivery_id -> DbUuid,
        attempt -> Integer,
        at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    scim_clients (id) {
        id -> DbUuid,
        name -> Text,
        token_hash -> Text,
        created_by -> DbUuid,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    user_identities (id) {
        id -> DbUuid,
        user_id -> DbUuid,
        provider -> Text,
        issuer -> Text,
        subject -> Text,
        created_at -> Timestamp,
        last_sign_in_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    oidc_logins (state_hash) {
        state_hash -> Text,
        provider -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        callback_url -> Text,
        redirect_uri -> Text,
        client_state -> Nullable<Text>,
        expires_at -> Timestamp,
        link_id -> Nullable<DbUuid>,
        reauthentication -> Bool,
        begun_at -> Nullable<Timestamp>,
        address -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    oidc_codes (code_hash) {
        code_hash -> Text,
        identity_id -> DbUuid,
        expires_at -> Timestamp,
        reauthentication -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    sign_in_links (id) {
        id -> DbUuid,
        user_id -> DbUuid,
        provider -> Text,
        code_hash -> Text,
        created_by -> DbUuid,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    spent_id_tokens (token_hash) {
        token_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    archive_files (id) {
        id -> DbUuid,
        archive_id -> DbUuid,
        name -> Text,
        media_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        wrapped_key -> Nullable<Text>,
        uploaded_by -> DbUuid,
        uploaded_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        retired_by -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loan_photos (id) {
        id -> DbUuid,
        loan_id -> DbUuid,
        incident_id -> Nullable<DbUuid>,
        name -> Text,
        media_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        wrapped_key -> Text,
        taken_by -> DbUuid,
        taken_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::DbUuid;

    loan_copies (id) {
        id -> DbUuid,
        loan_id -> DbUuid,
        file_id -> DbUuid,
        sha256 -> Text,
        size_bytes -> BigInt,
        marked -> Bool,
        handed_out_at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(users -> departments (department_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(archives -> departments (department_id));
diesel::joinable!(archives -> fonds (fonds_id));
diesel::joinable!(archives -> archive_categories (category_code));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(request_items -> loan_requests (request_id));
diesel::joinable!(request_items -> archives (archive_id));
diesel::joinable!(request_steps -> loan_requests (request_id));
diesel::joinable!(loans -> archives (archive_id));
diesel::joinable!(user_identities -> users (user_id));
diesel::joinable!(oidc_codes -> user_identities (identity_id));
diesel::joinable!(archive_files -> archives (archive_id));
diesel::joinable!(loan_photos -> loans (loan_id));
diesel::joinable!(loan_copies -> loans (loan_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    departments,
    users,
    sessions,
    refresh_tokens,
    login_throttles,
    login_failures,
    audit_head,
    audit_pending,
    audit_events,
    archives,
    fonds,
    archive_categories,
    archive_code_counters,
    locations,
    idempotency_keys,
    loan_policies,
    form_fields,
    delegations,
    request_numbers,
    loan_requests,
    request_items,
    request_steps,
    step_approvers,
    loans,
    loan_renewals,
    incidents,
    notifications,
    webhooks,
    webhook_deliveries,
    webhook_attempts,
    scim_clients,
    sign_in_links,
    spent_id_tokens,
    user_identities,
    oidc_logins,
    oidc_codes,
    archive_files,
    loan_photos,
    loan_copies,
);
