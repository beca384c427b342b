//! Webhooks: which audit events subscribers may receive and under what name, the Standard
//! Webhooks signature, the retry schedule, and which target addresses are allowed (SSRF).

use std::net::IpAddr;

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::Duration;

use crate::FieldError;

/// The events a subscription may ask for.
pub const EVENTS: [&str; 25] = [
    "request.created",
    "request.step_approved",
    "request.approved",
    "request.rejected",
    "request.withdrawn",
    "request.pickup_expired",
    "loan.checked_out",
    "loan.signed",
    "loan.renewal_requested",
    "loan.renewed",
    "loan.returned",
    "loan.return_confirmed",
    "loan.lost",
    "loan.opened",
    "loan.returned_online",
    "loan.revoked",
    "loan.expired",
    "loan.ended",
    "loan.due_soon",
    "loan.overdue",
    "loan.overdue_escalated",
    "approval.reminder",
    "approval.escalated",
    "reservation.lapsed",
    "incident.opened",
];

/// The webhook events an audit event stands for: its own action when subscribable, a reminder
/// under its kind, and `incident.opened` besides when it opened an incident.
pub fn events_of(action: &str, data: &serde_json::Value) -> Vec<String> {
    let mut events = Vec::new();
    let name = if action == "reminder.sent" {
        data["kind"].as_str().unwrap_or(action)
    } else {
        action
    };
    if EVENTS.contains(&name) {
        events.push(name.to_owned());
    }
    if !data["incident_id"].is_null() {
        events.push("incident.opened".to_owned());
    }
    events
}

/// Checks a subscription's event list: known names, at least one, no repeats.
pub fn check_events(events: &[String]) -> Result<(), FieldError> {
    if events.is_empty() {
        return Err(FieldError::new("events", "name at least one event"));
    }
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(FieldError::new(
            "events",
            format!("unknown event {unknown}; known: {}", EVENTS.join(", ")),
        ));
    }
    let mut sorted = events.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != events.len() {
        return Err(FieldError::new("events", "an event is named twice"));
    }
    Ok(())
}

/// The signing key of a secret: Standard Webhooks secrets are `whsec_` and base64; any other
/// text is used as it is.
fn key_of(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` header value: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key_of(secret)) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a secret chosen by the admin: long enough to resist guessing.
pub fn check_secret(secret: &str) -> Result<(), FieldError> {
    if key_of(secret).len() < 16 {
        return Err(FieldError::new(
            "secret",
            "must be at least 16 bytes (or whsec_ and base64)",
        ));
    }
    Ok(())
}

/// The Standard Webhooks retry schedule: when attempt `n` (1 = the first) follows the one
/// before; `None` after the last, when the delivery is given up.
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    const SCHEDULE: [Duration; 8] = [
        Duration::ZERO,
        Duration::seconds(5),
        Duration::minutes(5),
        Duration::minutes(30),
        Duration::hours(2),
        Duration::hours(5),
        Duration::hours(10),
        Duration::hours(10),
    ];
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    SCHEDULE.get(index).copied()
}

/// What a receiver's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again later (error, time-out, other status).
    Retry,
    /// 410 Gone: the receiver asks to be forgotten; the subscription is disabled.
    Gone,
}

pub fn outcome(status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Delivered,
        Some(410) => Outcome::Gone,
        _ => Outcome::Retry,
    }
}

/// An entry of `DANGAN_WEBHOOK_ALLOW`: a network in CIDR form or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Network { address: IpAddr, prefix: u8 },
    Host(String),
}

impl std::str::FromStr for Allowed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        match address.parse::<IpAddr>() {
            Ok(address) => {
                let max = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    Some(p) => p
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(|| format!("bad prefix length in {text}"))?,
                    None => max,
                };
                Ok(Allowed::Network { address, prefix })
            }
            Err(_) if prefix.is_none() && !text.is_empty() => {
                Ok(Allowed::Host(text.to_ascii_lowercase()))
            }
            Err(_) => Err(format!("{text} is neither a CIDR network nor a host name")),
        }
    }
}

impl Allowed {
    /// Whether `ip` lies in this network (a host name admits no address by itself).
    pub fn admits_address(&self, ip: IpAddr) -> bool {
        let Allowed::Network { address, prefix } = self else {
            return false;
        };
        match (address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Addresses no webhook may reach unless allowed: loopback, link-local (cloud metadata at
/// 169.254.169.254 among them), 0.0.0.0/8, multicast, broadcast, and shared address space
/// 100.64.0.0/10 (carrier-grade NAT, where Alibaba Cloud keeps its metadata service at
/// 100.100.100.200); in IPv6 also NAT64 64:ff9b::/96 and the deprecated IPv4-compatible
/// ::a.b.c.d, which reach IPv4 hosts by another name, and fd00:ec2::254, AWS's metadata service
/// over IPv6 (inside the private fd00::/8). Private networks are allowed: the OA and ERP servers
/// of an organisation live there.
const AWS_METADATA_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || first == 0
                || (first == 100 && (64..128).contains(&second))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            let v4_compatible = segments[..6] == [0; 6] && !v6.is_loopback();
            v6.is_loopback()
                || v4_compatible
                || nat64
                || v6 == AWS_METADATA_V6
                || v6.is_multicast()
                || (segments[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether `host` is an IPv4 address in a spelling other than dotted decimal (`2130706433`,
/// `0x7f.1`, `0177.0.0.1`): resolvers read these as addresses, and nothing but an attempt to
/// slip past a check writes them so.
fn odd_ipv4_spelling(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    let numeric = |part: &&str| {
        let lower = part.to_ascii_lowercase();
        match lower.strip_prefix("0x") {
            Some(hex) => hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !lower.is_empty() && lower.chars().all(|c| c.is_ascii_digit()),
        }
    };
    parts.len() <= 4 && parts.iter().all(numeric) && host.parse::<std::net::Ipv4Addr>().is_err()
}

/// A host as compared: without IPv6 brackets or the root's trailing dot (`localhost.` is
/// `localhost`), lower-case.
fn plain_host(host: &str) -> String {
    host.trim_matches(|c| c == '[' || c == ']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether `host` names this machine (`localhost`, `*.localhost`) and the allow list does not
/// admit it by name: refused whatever it resolves to, or whether it resolves at all.
fn local_by_name(host: &str, allow: &[Allowed]) -> bool {
    let host = plain_host(host);
    (host == "localhost" || host.ends_with(".localhost"))
        && !allow.iter().any(|a| *a == Allowed::Host(host.clone()))
}

/// Whether a subscription to `host`, resolving now to `addresses`, is refused. A name that does
/// not resolve yet is accepted (it is checked again at every delivery), unless its name alone
/// says it is this machine.
pub fn refused_at_subscription(host: &str, addresses: &[IpAddr], allow: &[Allowed]) -> bool {
    local_by_name(host, allow) || (!addresses.is_empty() && !target_allowed(host, addresses, allow))
}

/// Whether a webhook may be sent to `host` resolving to `addresses`.
pub fn target_allowed(host: &str, addresses: &[IpAddr], allow: &[Allowed]) -> bool {
    if allow.iter().any(|a| *a == Allowed::Host(plain_host(host))) {
        return true;
    }
    let named_local = local_by_name(host, allow);
    !addresses.is_empty()
        && addresses.iter().all(|ip| {
            allow.iter().any(|a| a.admits_address(*ip)) || (!forbidden(*ip) && !named_local)
        })
}

/// Checks a subscription URL's form: http or https, a host, no credentials.
pub fn check_url(url: &str) -> Result<(String, u16), FieldError> {
    let invalid = |message: &str| FieldError::new("url", message.to_owned());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("must be an absolute http or https URL"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(invalid("only http and https URLs are allowed")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(
            "credentials in the URL are not allowed; sign with the secret",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| invalid("bad IPv6 host"))?;
        (host.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the URL names no host"));
    }
    if odd_ipv4_spelling(&host) {
        return Err(invalid(
            "write an IPv4 host as four decimal numbers (a.b.c.d)",
        ));
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| invalid("bad port"))?,
        None => default_port,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_signature_follows_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn audit_events_map_to_webhook_events() {
        let none = serde_json::json!({});
        assert_eq!(events_of("loan.checked_out", &none), ["loan.checked_out"]);
        for online in ["loan.opened", "loan.revoked", "loan.expired", "loan.ended"] {
            assert_eq!(events_of(online, &none), [online]);
        }
        assert!(
            events_of("loan.file_read", &none).is_empty(),
            "every read of a file is for the audit trail, not for subscribers"
        );
        assert!(
            events_of("auth.login", &none).is_empty(),
            "logins are not for subscribers"
        );
        let reminder = serde_json::json!({"kind": "loan.overdue"});
        assert_eq!(events_of("reminder.sent", &reminder), ["loan.overdue"]);
        let damaged = serde_json::json!({"incident_id": "0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c40"});
        assert_eq!(
            events_of("loan.returned", &damaged),
            ["loan.returned", "incident.opened"]
        );
        let intact = serde_json::json!({"incident_id": null});
        assert_eq!(events_of("loan.returned", &intact), ["loan.returned"]);
    }

    #[test]
    fn event_lists_are_checked() {
        assert!(check_events(&["loan.overdue".into()]).is_ok());
        assert!(check_events(&[]).is_err());
        assert!(check_events(&["auth.login".into()]).is_err());
        assert!(check_events(&["loan.overdue".into(), "loan.overdue".into()]).is_err());
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(retry_delay(1), Some(Duration::ZERO));
        assert_eq!(retry_delay(2), Some(Duration::seconds(5)));
        assert_eq!(retry_delay(3), Some(Duration::minutes(5)));
        assert_eq!(retry_delay(5), Some(Duration::hours(2)));
        assert_eq!(retry_delay(8), Some(Duration::hours(10)));
        assert_eq!(retry_delay(9), None);
        assert_eq!(retry_delay(0), None);
        assert_eq!(outcome(Some(204)), Outcome::Delivered);
        assert_eq!(outcome(Some(410)), Outcome::Gone);
        assert_eq!(outcome(Some(500)), Outcome::Retry);
        assert_eq!(outcome(None), Outcome::Retry);
    }

    #[test]
    fn urls_are_checked_for_form() {
        assert_eq!(
            check_url("https://oa.example.cn/hooks").unwrap(),
            ("oa.example.cn".into(), 443)
        );
        assert_eq!(
            check_url("http://10.1.2.3:8080/x").unwrap(),
            ("10.1.2.3".into(), 8080)
        );
        assert_eq!(
            check_url("http://[::1]:9000/").unwrap(),
            ("::1".into(), 9000)
        );
        for bad in [
            "file:///etc/passwd",
            "gopher://x",
            "ftp://x/",
            "http://",
            "https://u:p@x/",
            "x",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0x7f000001:80/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for good in [
            "http://cafe.be/",
            "http://0xff.example/",
            "http://123.example/",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn loopback_link_local_and_metadata_are_refused_unless_allowed() {
        let none: [Allowed; 0] = [];
        assert!(
            target_allowed("oa.local", &[ip("10.0.0.5")], &none),
            "private networks pass"
        );
        assert!(target_allowed("oa", &[ip("192.168.1.20")], &none));
        for refused in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.1.2.3",
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "fd00:ec2::254",
        ] {
            assert!(!target_allowed("h", &[ip(refused)], &none), "{refused}");
        }
        for passes in ["100.63.255.255", "100.128.0.1", "fd00::5", "fd00:ec2::253"] {
            assert!(target_allowed("h", &[ip(passes)], &none), "{passes}");
        }
        assert!(!target_allowed("localhost", &[ip("10.0.0.5")], &none));
        assert!(!target_allowed("LocalHost.", &[ip("10.0.0.5")], &none));
        assert!(!target_allowed("a.localhost.", &[ip("10.0.0.5")], &none));
        assert!(
            refused_at_subscription("localhost.", &[], &none),
            "refused unresolved"
        );
        assert!(
            !refused_at_subscription("oa.example.cn", &[], &none),
            "checked at delivery"
        );
        assert!(refused_at_subscription(
            "oa.example.cn",
            &[ip("127.0.0.1")],
            &none
        ));
        assert!(!refused_at_subscription(
            "oa.example.cn",
            &[ip("10.0.0.5")],
            &none
        ));
        assert!(
            !target_allowed("h", &[], &none),
            "a name that resolves to nothing"
        );
        assert!(
            !target_allowed("h", &[ip("10.0.0.5"), ip("127.0.0.1")], &none),
            "every address must pass"
        );

        let allow: Vec<Allowed> = ["127.0.0.0/8", "oa.internal"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert!(target_allowed("h", &[ip("127.0.0.1")], &allow));
        assert!(target_allowed("oa.internal", &[ip("169.254.1.1")], &allow));
        assert!(!target_allowed("h", &[ip("169.254.169.254")], &allow));
        assert!("10.0.0.0/33".parse::<Allowed>().is_err());
        assert_eq!(
            "::1".parse::<Allowed>().unwrap(),
            Allowed::Network {
                address: ip("::1"),
                prefix: 128
            }
        );
    }
}
