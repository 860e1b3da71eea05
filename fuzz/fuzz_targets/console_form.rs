//! The console's `Form::parse` (any posted body; repeated names kept,
//! values trimmed, blanks absent) and `ClientDraft::parse` fed from it the
//! way the app form does. A draft that parses and validates is a client
//! whose edit form (`ClientDraft::of`) parses back to the same client.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::{Client, ClientDraft, ClientId, NewClient, ServiceAccount, ServiceAccountId, UnixTime};
use tessera::http::console::Form;

const FIELDS: &[&str] = &[
    "name",
    "client_type",
    "grants",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scopes",
    "auth_method",
    "jwks",
    "jwks_uri",
    "token_format",
    "pkce",
    "access_token_ttl",
    "refresh_token_ttl",
    "audiences",
    "service_account",
    "resource_server",
    "require_pushed_authorization_requests",
    "submission",
    "tessera_csrf",
];

fn check_form(body: &[u8], form: &Form) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    for field in FIELDS {
        let values: Vec<String> =
            pairs.iter().filter(|(n, _)| n == field).map(|(_, v)| v.trim().to_owned()).collect();
        let first = values.first().map(String::as_str).filter(|v| !v.is_empty());
        assert_eq!(form.get(field), first, "{field}");
        assert_eq!(form.all(field), values, "{field}");
        assert_eq!(form.checked(field), first.is_some());
        assert_eq!(form.text(field), first.unwrap_or_default());
    }
}

/// The draft as `console::apps` builds it from a posted form.
fn draft(form: &Form) -> ClientDraft {
    ClientDraft::from_form(form)
}

fn check_draft(draft: &ClientDraft) {
    let new = match draft.parse() {
        Ok(new) => new,
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            let mut fields: Vec<&str> =
                errors.iter().map(|e| e.field.expect("every error names its field")).collect();
            let count = fields.len();
            fields.sort_unstable();
            fields.dedup();
            assert_eq!(fields.len(), count, "one error per field");
            return;
        }
    };
    assert_eq!(new.name, draft.name.trim());
    assert!((1..=200).contains(&new.name.chars().count()));
    let blank = |v: &&String| !v.trim().is_empty();
    assert_eq!(new.redirect_uris.len(), draft.redirect_uris.iter().filter(blank).count());
    for (uri, text) in new.redirect_uris.iter().zip(draft.redirect_uris.iter().filter(blank)) {
        assert_eq!(uri.as_str(), text.trim());
    }
    assert_eq!(new.audiences.len(), draft.audiences.iter().filter(blank).count());
    assert_eq!(
        new.grants.len(),
        draft.grants.iter().map(|g| g.trim()).collect::<std::collections::BTreeSet<_>>().len()
    );
    assert_eq!(new.resource_server, draft.resource_server);
    let Ok(method) = new.validate() else { return };

    // Stored, then edited without a change: the same client.
    let client = Client {
        id: ClientId::parse("c-1").expect("client id"),
        name: new.name.clone(),
        client_type: new.client_type,
        auth_method: method,
        token_format: new.token_format,
        grants: new.grants.clone(),
        scopes: new.scopes.clone(),
        redirect_uris: new.redirect_uris.clone(),
        post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
        audiences: new.audiences.clone(),
        service_account: new.service_account.clone().map(|username| ServiceAccount {
            id: ServiceAccountId::new("sa-1"),
            username,
            display_name: None,
            enabled: true,
            admin: false,
            created_at: UnixTime::from_seconds(0),
        }),
        access_token_ttl: new.access_token_ttl,
        refresh_token_ttl: new.refresh_token_ttl,
        resource_server: new.resource_server,
        pkce: new.pkce,
        require_par: new.require_par,
        keys: new.keys.clone(),
        enabled: true,
        created_at: UnixTime::from_seconds(0),
    };
    let again = ClientDraft::of(&client).parse().expect("a stored client's draft parses");
    assert_eq!(again.validate().ok(), Some(method));
    let stored = NewClient { auth_method: Some(method), ..new };
    assert_eq!(format!("{again:?}"), format!("{stored:?}"));
}

fuzz_target!(|body: &[u8]| {
    let form = Form::parse(body);
    check_form(body, &form);
    check_draft(&draft(&form));
    // The same fields straight from text, one value per line, as the admin API could send them.
    let text = String::from_utf8_lossy(body);
    let mut lines = text.lines().map(str::to_owned);
    let mut next = || lines.next().unwrap_or_default();
    let direct = ClientDraft {
        name: next(),
        client_type: next(),
        grants: next().split(',').map(str::to_owned).collect(),
        redirect_uris: next().split(',').map(str::to_owned).collect(),
        post_logout_redirect_uris: next().split(',').map(str::to_owned).collect(),
        scopes: next().split(',').map(str::to_owned).collect(),
        auth_method: Some(next()),
        token_format: Some(next()),
        pkce: Some(next()),
        access_token_ttl: Some(next()),
        refresh_token_ttl: Some(next()),
        audiences: next().split(',').map(str::to_owned).collect(),
        service_account: Some(next()),
        resource_server: next() == "true",
        require_pushed_authorization_requests: next() == "true",
        jwks: Some(next()),
        jwks_uri: Some(next()),
    };
    check_draft(&direct);
});
