//! What Jira's answer to `/rest/api/2/myself` means and what to do about
//! it: the table (docs/jira.md) of the REST-authentication app's answers, plus the
//! answers of a Jira where no such app handles bearer tokens.

use super::probe::Reply;

/// A verdict for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub accepted: bool,
    pub summary: String,
}

impl Advice {
    fn accepted(summary: String) -> Self {
        Self { accepted: true, summary }
    }

    fn refused(summary: impl Into<String>) -> Self {
        Self { accepted: false, summary: summary.into() }
    }
}

const NO_USER: &str = "No user found";
const TOKEN_INVALID: &str = "Token Invalid";
const TOKEN_EXPIRED: &str = "Token Expired";

/// Reads Jira's reply to a token carrying `username`.
pub fn advise(reply: &Reply, username: &str) -> Advice {
    let body = reply.body.as_str();
    match reply.status {
        200 => {
            let name = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|user| user["name"].as_str().map(str::to_owned));
            match name {
                Some(name) if name.eq_ignore_ascii_case(username) => {
                    Advice::accepted(format!("It acts as Jira user {name}."))
                }
                Some(name) => Advice::accepted(format!(
                    "It acts as Jira user {name}, not {username}: the Jira app maps every token to one \
                     user (client-credentials mode) or reads another claim."
                )),
                None => Advice::accepted(
                    "But Jira's answer is not a Jira user: is the Jira URL right?".to_owned(),
                ),
            }
        }
        400 if body.contains(NO_USER) => Advice::refused(format!(
            "Jira validated the token but has no user named {username}. Create that user in Jira, \
             or change the username of the Tessera user or service account to the Jira one."
        )),
        400 if body.contains(TOKEN_INVALID) => Advice::refused(
            "Jira could not validate the token. JWT mode: the pasted PEM is not the active key's \
             (replace it with the one on this page), the algorithm differs, or the app issues opaque \
             tokens. Introspection mode: check the introspection URL, and that Jira's client is a \
             resource server.",
        ),
        401 if body.contains(TOKEN_EXPIRED) => Advice::refused(
            "Jira found the token expired although it was just minted: the clocks of Jira and \
             Tessera disagree. Synchronise them (NTP).",
        ),
        401 if body.contains("invalid_client") => Advice::refused(
            "Tessera refused the client id or secret Jira's app uses for introspection. Paste them \
             again, or create Jira's client on this page (a rotated secret stops working after its \
             grace period).",
        ),
        401 => Advice::refused(
            "Jira refused the bearer token without saying why: is its REST API authentication app \
             installed, enabled and set to handle /rest/api/2?",
        ),
        403 => Advice::refused(
            "Jira knows the user but refuses it: the Jira user may be inactive or lack application \
             access.",
        ),
        404 => Advice::refused(
            "There is no Jira REST API at this address: check TESSERA_JIRA_URL, including Jira's \
             context path (for example https://example.com/jira).",
        ),
        300..=399 => Advice::refused(format!(
            "Jira redirected the call{}: it treated the request as anonymous, so no app handled \
             the bearer token.",
            reply.location.as_deref().map(|to| format!(" to {to}")).unwrap_or_default()
        )),
        500..=599 => Advice::refused("Jira failed to answer; its log says why."),
        status => Advice::refused(format!("Jira answered with status {status}.")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: Some("application/json".into()),
            location: None,
            body: body.into(),
            truncated: false,
            elapsed: Duration::from_millis(3),
        }
    }

    fn error_body(message: &str) -> String {
        serde_json::json!({"error": {"status": "ERROR", "message": message}}).to_string()
    }

    #[test]
    fn each_answer_of_spec_table_gets_its_advice() {
        let ok = advise(&reply(200, r#"{"name":"jdoe","key":"JIRAUSER10000"}"#), "jdoe");
        assert!(ok.accepted);
        assert!(ok.summary.contains("as Jira user jdoe"), "{}", ok.summary);

        let cases = [
            (400, error_body("No user found with this username/email address"), "no user named jdoe"),
            (400, error_body("Token Invalid: Error while validating the token."), "pasted PEM"),
            (401, error_body("Token Expired: The token provided is expired."), "clocks"),
            (401, r#"{"error":"invalid_client"}"#.to_owned(), "client id or secret"),
            (401, String::new(), "REST API authentication app"),
            (404, String::new(), "TESSERA_JIRA_URL"),
            (503, String::new(), "log"),
        ];
        for (status, body, expected) in cases {
            let advice = advise(&reply(status, &body), "jdoe");
            assert!(!advice.accepted, "{status} {body}");
            assert!(advice.summary.contains(expected), "{status}: {}", advice.summary);
        }
    }

    #[test]
    fn another_user_or_no_user_in_a_200_is_pointed_out() {
        let other = advise(&reply(200, r#"{"name":"svc-jira"}"#), "jdoe");
        assert!(other.accepted && other.summary.contains("not jdoe"), "{}", other.summary);
        let html = advise(&reply(200, "<html>"), "jdoe");
        assert!(html.summary.contains("is not a Jira user"), "{}", html.summary);
    }

    #[test]
    fn a_redirect_names_where_it_went() {
        let mut redirect = reply(302, "");
        redirect.location = Some("https://jira.example.com/login.jsp".into());
        let advice = advise(&redirect, "jdoe");
        assert!(advice.summary.contains("to https://jira.example.com/login.jsp"), "{}", advice.summary);
    }
}
