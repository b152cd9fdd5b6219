//! Every GraphQL request the connector can send, checked against Wiz's real schema
//! (`tests/schema/wiz.graphql`, printed from a live introspection): the document must
//! validate, the variables the connector builds must coerce to the declared types, and
//! nothing may touch a field, argument, input field or enum value marked `@deprecated`.
//!
//! Two sources of requests: the connector's own builders (`protocol::issues_request`,
//! `protocol::resources_request`) with every combination of their options, and what a
//! connection test, a full sync, a resumed sync and an incremental one actually send
//! through a recording transport. Deprecated arguments and enum values are looked for in
//! the variables the connector builds (its documents take every value as a variable).

mod common;

use apollo_compiler::ast::{DirectiveList, Type};
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::response::JsonMap;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use connector_sdk::testkit::{FakeHost, ScriptedTransport, block_on as run};
use connector_wiz::client::WizClient;
use connector_wiz::config::WizConfig;
use connector_wiz::protocol;
use connector_wiz::sync::Sync;
use serde_json::Value;
use std::sync::OnceLock;

/// Wiz's schema, loaded leniently: the printed SDL has input types with no fields (their
/// fields were lost when it was printed), which strict validation rejects. Everything the
/// connector uses is complete, so the parsed schema is taken as valid as it is.
fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schema/wiz.graphql");
        let sdl = std::fs::read_to_string(path).expect("tests/schema/wiz.graphql");
        let schema = Schema::parse(sdl, path).unwrap_or_else(|with_errors| with_errors.partial);
        assert!(
            schema.types.len() > 5_000,
            "the schema parsed: {} types",
            schema.types.len()
        );
        Valid::assume_valid(schema)
    })
}

/// Checks one request body (`{"query": …, "variables": …}`) against `schema`; every
/// problem is listed.
fn check_against(schema: &Valid<Schema>, body: &str) -> Result<(), Vec<String>> {
    let request: Value = serde_json::from_str(body).map_err(|e| vec![format!("body: {e}")])?;
    let query = request["query"]
        .as_str()
        .ok_or(vec!["no query".to_string()])?;
    let document = ExecutableDocument::parse_and_validate(schema, query, "request.graphql")
        .map_err(|with_errors| {
            with_errors
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        })?;
    let operation = document
        .operations
        .get(None)
        .map_err(|e| vec![format!("operation: {}", e.message())])?;
    let variables: JsonMap = serde_json::from_value(request["variables"].clone())
        .map_err(|e| vec![format!("variables are not an object: {e}")])?;
    apollo_compiler::request::coerce_variable_values(schema, operation, &variables)
        .map_err(|e| vec![format!("variables: {}", e.message())])?;

    let mut problems = Vec::new();
    deprecated_in_selections(&document, &operation.selection_set, &mut problems);
    for definition in &operation.variables {
        let value = &request["variables"][definition.name.as_str()];
        let path = definition.name.as_str();
        deprecated_in_value(schema, &definition.ty, value, path, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks one request body against Wiz's schema.
fn check(body: &str) -> Result<(), Vec<String>> {
    check_against(schema(), body)
}

fn deprecation(directives: &DirectiveList) -> Option<String> {
    let deprecated = directives.get("deprecated")?;
    Some(
        deprecated
            .specified_argument_by_name("reason")
            .and_then(|v| v.as_str())
            .unwrap_or("no reason given")
            .to_string(),
    )
}

/// Deprecated fields and arguments anywhere in a selection set.
fn deprecated_in_selections(
    document: &ExecutableDocument,
    set: &SelectionSet,
    problems: &mut Vec<String>,
) {
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                deprecated_in_field(&set.ty, field, problems);
                deprecated_in_selections(document, &field.selection_set, problems);
            }
            Selection::InlineFragment(fragment) => {
                deprecated_in_selections(document, &fragment.selection_set, problems)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                    deprecated_in_selections(document, &fragment.selection_set, problems);
                }
            }
        }
    }
}

fn deprecated_in_field(parent: &str, field: &Field, problems: &mut Vec<String>) {
    if let Some(reason) = deprecation(&field.definition.directives) {
        problems.push(format!("`{parent}.{}` is deprecated: {reason}", field.name));
    }
    for argument in &field.arguments {
        let definition = field.definition.argument_by_name(&argument.name);
        if let Some(reason) = definition.and_then(|d| deprecation(&d.directives)) {
            problems.push(format!(
                "argument `{}` of `{parent}.{}` is deprecated: {reason}",
                argument.name, field.name
            ));
        }
    }
}

/// Deprecated input fields and enum values in a variable's JSON value.
fn deprecated_in_value(
    schema: &Schema,
    ty: &Type,
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
) {
    if value.is_null() {
        return;
    }
    if ty.is_list() {
        // A single value stands for a list of one (input coercion).
        let items = value.as_array().map_or(vec![value], |a| a.iter().collect());
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{path}[{i}]");
            deprecated_in_value(schema, ty.item_type(), item, &path, problems);
        }
        return;
    }
    match schema.types.get(ty.inner_named_type()) {
        Some(ExtendedType::InputObject(input)) => {
            for (key, item) in value.as_object().into_iter().flatten() {
                let Some(field) = input.fields.get(key.as_str()) else {
                    continue; // unknown fields already failed coercion
                };
                if let Some(reason) = deprecation(&field.directives) {
                    problems.push(format!(
                        "input field `{}.{key}` ({path}) is deprecated: {reason}",
                        input.name
                    ));
                }
                let path = format!("{path}.{key}");
                deprecated_in_value(schema, &field.ty, item, &path, problems);
            }
        }
        Some(ExtendedType::Enum(enumeration)) => {
            let deprecated = value
                .as_str()
                .and_then(|v| enumeration.values.get(v))
                .and_then(|v| deprecation(&v.directives));
            if let Some(reason) = deprecated {
                problems.push(format!(
                    "enum value {value} of `{}` ({path}) is deprecated: {reason}",
                    enumeration.name
                ));
            }
        }
        _ => {}
    }
}

/// Every request the connector builds: each page of a sync (first or later, one project
/// or all, full or incremental), the inventory lookups, and the connection test's.
fn every_request() -> Vec<(String, String)> {
    let mut requests = Vec::new();
    for after in [None, Some("c2ltLWN1cnNvcjo1MDA=")] {
        for project in [None, Some("4f76f599-1f6c-5cb6-a0b9-a262517aeacd")] {
            for changed_after in [None, Some("2026-08-01T00:00:00.000000Z")] {
                for with_total in [false, true] {
                    requests.push((
                        format!("issues after={after:?} project={project:?} changed_after={changed_after:?} total={with_total}"),
                        protocol::issues_request(500, after, project, changed_after, with_total),
                    ));
                }
            }
        }
    }
    requests.push((
        "connection test issue probe".into(),
        protocol::issues_request(1, None, None, None, true),
    ));
    let ids = [
        "0727dd0c-24e3-56b2-a170-adf96b72e2d6",
        "434f3cbb-30f2-4bc0-8bba-cb080280652b",
    ];
    for after in [None, Some("c2ltLWN1cnNvcjoy")] {
        requests.push((
            format!("inventory lookup after={after:?}"),
            protocol::resources_request(&ids, after),
        ));
    }
    requests.push((
        "connection test inventory probe".into(),
        protocol::resources_request(&[], None),
    ));
    requests
}

#[test]
fn every_request_the_connector_sends_is_valid_and_current() {
    for (what, body) in every_request() {
        if let Err(problems) = check(&body) {
            panic!("{what}:\n  {}", problems.join("\n  "));
        }
    }
}

/// The checker itself: each kind of mistake it exists for is caught.
#[test]
fn the_check_fails_on_deprecated_unknown_and_mistyped_requests() {
    let good = protocol::issues_request(500, None, None, None, true);
    let edited = |from: &str, to: &str| {
        let mut request: Value = serde_json::from_str(&good).unwrap();
        let query = request["query"].as_str().unwrap();
        assert!(query.contains(from), "the query has {from}");
        request["query"] = query.replacen(from, to, 1).into();
        request.to_string()
    };
    let fails_with = |body: String, expected: &str| {
        let problems = check(&body).expect_err(expected);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected {expected:?} in {problems:?}"
        );
    };
    assert_eq!(check(&good), Ok(()));
    // The field the connector used to select.
    fails_with(
        edited("sourceRules {", "sourceRule {"),
        "`Issue.sourceRule` is deprecated: Deprecated property, use sourceRules instead",
    );
    fails_with(edited("dueAt", "dueAt note"), "`Issue.note` is deprecated");
    fails_with(edited("dueAt", "dueAt dueDate"), "dueDate");
    fails_with(
        edited("first: $first,", "first: $first, pageSize: 5,"),
        "pageSize",
    );
    fails_with(edited("$first: Int!", "$first: String!"), "first");
    // Variables the schema does not take.
    let mut request: Value = serde_json::from_str(&good).unwrap();
    request["variables"]["first"] = "500".into();
    fails_with(request.to_string(), "variables");
    let mut request: Value = serde_json::from_str(&good).unwrap();
    request["variables"]["filterBy"]["severity"] = serde_json::json!(["SEVERE"]);
    fails_with(request.to_string(), "variables");
    let mut request: Value = serde_json::from_str(&good).unwrap();
    request["variables"]["filterBy"]["projectId"] = "p1".into();
    fails_with(request.to_string(), "variables");
}

/// Deprecated enum values and input fields inside variables. Wiz's printed schema marks
/// no input field deprecated, so that case runs on a small schema of its own.
#[test]
fn the_check_fails_on_deprecated_values_inside_variables() {
    let query = r#"query G($type: GraphEntityType) { graphEntity(id: "x", type: $type) { id } }"#;
    let body =
        |value: &str| serde_json::json!({"query": query, "variables": {"type": value}}).to_string();
    assert_eq!(check(&body("VIRTUAL_MACHINE")), Ok(()));
    let problems = check(&body("BACKEND_BUCKET")).unwrap_err();
    assert!(
        problems[0]
            .contains("enum value \"BACKEND_BUCKET\" of `GraphEntityType` (type) is deprecated"),
        "{problems:?}"
    );

    let sdl = r#"
        type Query { items(filterBy: Filters): [String] }
        input Filters { tag: TagFilter, label: String @deprecated(reason: "use tag") }
        input TagFilter { equals: [String!] }
    "#;
    let small = Schema::parse_and_validate(sdl, "small.graphql").unwrap();
    let body = |filter: Value| {
        serde_json::json!({"query": "query Q($f: Filters) { items(filterBy: $f) }", "variables": {"f": filter}}).to_string()
    };
    assert_eq!(
        check_against(&small, &body(serde_json::json!({"tag": {"equals": ["a"]}}))),
        Ok(())
    );
    let problems = check_against(&small, &body(serde_json::json!({"label": "a"}))).unwrap_err();
    assert_eq!(
        problems,
        ["input field `Filters.label` (f) is deprecated: use tag"]
    );
}

/// Wiz as the recording transport plays it: a token, the current-shape fixture page as
/// the first of two pages or as the last (by the `after` cursor asked for), and an empty
/// inventory.
fn wiz() -> ScriptedTransport {
    common::wiz_answering(|mut page, variables| {
        let first = variables["after"].is_null();
        page["data"]["issues"]["pageInfo"] =
            serde_json::json!({"hasNextPage": first, "endCursor": if first { "c1" } else { "c2" }});
        page
    })
}

#[test]
fn every_request_of_a_connection_test_and_of_syncs_is_valid_and_current() {
    let recorder = wiz();
    for projects in [
        "",
        "4f76f599-1f6c-5cb6-a0b9-a262517aeacd,83b76efe-a7b6-5762-8a53-8e8f59e68bd8",
    ] {
        let config = || {
            WizConfig::from_entries([
                ("api-url", "https://api.us17.app.wiz.io/graphql"),
                ("client-id", "id"),
                ("client-secret", "secret"),
                ("project-ids", projects),
                ("max-requests-per-second", "1000"),
            ])
            .unwrap()
        };
        let client = || WizClient::new(&recorder, config());
        run(connector_wiz::connection::test_connection(client())).unwrap();
        let mut full = FakeHost::default();
        run(Sync::new(client(), &mut full).run(None)).unwrap();
        let checkpoints = full.checkpoints();
        let resume = checkpoints
            .first()
            .expect("a checkpoint after the first page");
        let done = checkpoints.last().unwrap();
        run(Sync::new(client(), &mut FakeHost::default()).run(Some(resume))).unwrap();
        run(Sync::new(client(), &mut FakeHost::default()).run(Some(done))).unwrap();
    }
    let bodies: Vec<String> = recorder
        .requests()
        .into_iter()
        .filter(|r| !r.url.ends_with("/oauth/token"))
        .map(|r| String::from_utf8(r.body).unwrap())
        .collect();
    let incremental = bodies
        .iter()
        .filter(|b| b.contains("statusChangedAt"))
        .count();
    let resumed = bodies
        .iter()
        .filter(|b| b.contains(r#""after":"c1""#))
        .count();
    let projects = bodies
        .iter()
        .filter(|b| b.contains(r#""project":["#))
        .count();
    assert!(
        incremental > 0 && resumed > 0 && projects > 0,
        "{bodies:#?}"
    );
    for body in bodies.iter() {
        if let Err(problems) = check(body) {
            panic!("{body}:\n  {}", problems.join("\n  "));
        }
    }
}
