//! Account → Attio company, by domain: the account's `domain` property, else its key when it
//! looks like a domain. Found companies are cached in SQLite; a missing one is created only when
//! `create_missing_companies` is set (through the outbox), else the account is unresolved.

use serde_json::{Map, Value, json};

use super::client::{ApiError, Client};

/// The domain of an account, lower-cased, without scheme, path, port or `www.`.
pub fn account_domain(key: &str, props: &Map<String, Value>) -> Option<String> {
    props
        .get("domain")
        .and_then(Value::as_str)
        .and_then(normalize_domain)
        .or_else(|| normalize_domain(key))
}

/// A host name from something that may be a URL; None when it does not look like a domain.
pub fn normalize_domain(raw: &str) -> Option<String> {
    let s = raw.trim().to_lowercase();
    let s = s.split_once("://").map_or(s.as_str(), |(_, rest)| rest);
    let host = s.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("");
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(char::is_alphabetic) && tld.len() >= 2);
    ok.then(|| host.to_string())
}

/// The company with this domain in Attio, if any (one read).
pub fn find_company(client: &Client, domain: &str) -> Result<Option<String>, ApiError> {
    let body = json!({"filter": {"domains": {"domain": {"$eq": domain}}}, "limit": 1, "offset": 0});
    let found = client.send(
        super::client::Method::Post,
        "/v2/objects/companies/records/query",
        &[],
        Some(&body),
    )?;
    Ok(found
        .get("data")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(record_id)
        .map(str::to_string))
}

/// `id.record_id` of a record.
pub fn record_id(record: &Value) -> Option<&str> {
    record
        .get("id")
        .and_then(|i| i.get("record_id"))
        .and_then(Value::as_str)
}

/// The assert body that creates (or matches) a company by domain.
pub fn company_body(domain: &str, name: Option<&str>) -> Value {
    let mut values = serde_json::Map::new();
    values.insert("domains".into(), json!([domain]));
    if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
        values.insert("name".into(), json!([n.trim()]));
    }
    json!({"data": {"values": values}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_come_from_the_property_or_a_domain_like_key() {
        let props: Map<String, Value> =
            serde_json::from_str(r#"{"domain":"https://www.Acme.com/about"}"#).unwrap();
        assert_eq!(
            account_domain("acct_17", &props).as_deref(),
            Some("acme.com")
        );
        assert_eq!(
            account_domain("globex.io", &Map::new()).as_deref(),
            Some("globex.io")
        );
        assert_eq!(account_domain("acct_17", &Map::new()), None);
        assert_eq!(
            normalize_domain("jane@initech.co.uk").as_deref(),
            Some("initech.co.uk")
        );
        assert_eq!(normalize_domain("localhost"), None);
        assert_eq!(normalize_domain("1.2.3.4"), None);
        assert_eq!(normalize_domain("Acme Inc"), None);
    }
}
