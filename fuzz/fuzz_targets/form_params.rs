//! `FormParams::parse` and `parse_noting_repeats` (strict
//! x-www-form-urlencoded) against a model written from their rules, and
//! the round trip: parameters re-encoded parse to the same parameters.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tessera::oauth::params::{decode, FormParams};
use tessera_fuzz::{form_encode, reference_decode, FormModel, REPEATABLE};

fn contents(params: &FormParams) -> FormModel {
    let single: BTreeMap<String, String> = params.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    assert_eq!(single.len(), params.iter().count(), "a name listed twice");
    let repeated = REPEATABLE
        .iter()
        .filter(|name| !params.all(name).is_empty())
        .map(|name| (name.to_string(), params.all(name).to_vec()))
        .collect();
    FormModel { single, repeated, repeats: Vec::new() }
}

fuzz_target!(|body: &[u8]| {
    // One name or value.
    match (decode(body), reference_decode(body)) {
        (Ok(ours), Some(model)) => {
            assert_eq!(ours, model);
            assert_eq!(decode(form_encode(&ours).as_bytes()).ok().as_deref(), Some(ours.as_str()));
        }
        (Err(error), None) => assert_eq!(error.code(), "invalid_request"),
        (ours, model) => panic!("decode {body:?}: {ours:?}, expected {model:?}"),
    }

    // A whole body.
    let model = FormModel::of(body);
    let noted = FormParams::parse_noting_repeats(body);
    let (params, repeats) = match (noted, &model) {
        (Ok(parsed), Some(_)) => parsed,
        (Err(error), None) => {
            assert_eq!(error.code(), "invalid_request");
            assert!(FormParams::parse(body).is_err());
            return;
        }
        (ours, model) => panic!("parse {body:?}: {ours:?}, expected {model:?}"),
    };
    let model = model.expect("matched above");
    let mut found = contents(&params);
    found.repeats = repeats;
    assert_eq!(found, model, "parse_noting_repeats {body:?}");
    for (name, value) in &model.single {
        assert_eq!(params.get(name), Some(value.as_str()));
        assert_eq!(params.require(name).ok(), Some(value.as_str()));
    }
    for name in REPEATABLE {
        assert_eq!(params.get(name), None, "{name} is never single-valued");
    }
    // Debug shows the names only: values carry secrets.
    let mut names: Vec<&str> = model.single.keys().chain(model.repeated.keys()).map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(format!("{params:?}"), format!("FormParams({names:?}, values redacted)"));

    // parse refuses exactly what repeats a single-valued name.
    match FormParams::parse(body) {
        Ok(strict) => {
            assert!(model.repeats.is_empty(), "parse accepted a repeat in {body:?}");
            assert_eq!(contents(&strict), contents(&params));
        }
        Err(error) => {
            assert!(!model.repeats.is_empty(), "parse refused {body:?}: {error}");
            assert_eq!(error.code(), "invalid_request");
        }
    }

    // Round trip: the parameters, form-encoded, parse to themselves.
    let again =
        FormParams::parse(contents(&params).encode().as_bytes()).expect("re-encoded parameters parse");
    assert_eq!(contents(&again), contents(&params));
});
