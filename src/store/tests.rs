use std::sync::Arc;

use super::*;
use crate::inventory::{EdgeDelta, EndpointDelta, OverflowDelta, TrafficDelta};
use crate::model::IgnoredCounts;

const NOW: i64 = 1_763_900_000; // 2025-11-23T12:13:20Z
const H: i64 = 3600;

fn ep(service: &str, method: Method, template: &str, at: i64, status: u16) -> EndpointDelta {
    let mut s = StatusCounts::default();
    s.record(Some(status));
    let ok = crate::model::is_success(Some(status));
    EndpointDelta {
        service: Arc::from(service),
        method,
        template: PathTemplate::parse(template),
        source: TemplateSource::Route,
        hour: hour_of(at),
        requests: 1,
        status: s,
        ok_with_auth: 0,
        ok_without_auth: ok as i64,
        evidence: if status == 401 {
            AuthEvidence::REJECTED
        } else {
            AuthEvidence::NONE
        },
        first_seen: at,
        last_seen: at,
        examples: vec![template.replace("{id}", "42")],
        callers: vec!["10.0.0.7".into()],
        user_agents: vec![],
    }
}

fn delta(endpoints: Vec<EndpointDelta>) -> Delta {
    Delta {
        endpoints,
        ..Default::default()
    }
}

fn get<'a>(v: &'a [EndpointStats], method: Method, template: &str) -> &'a EndpointStats {
    v.iter()
        .find(|e| e.method == method && e.template.as_str() == template)
        .unwrap_or_else(|| panic!("{method} {template} missing from {v:#?}"))
}

#[test]
fn round_trip_keeps_every_field() {
    let mut store = Store::open_in_memory().unwrap();
    let mut a = ep("petstore", Method::Get, "/pet/{id}", NOW, 200);
    a.ok_with_auth = 1;
    a.ok_without_auth = 0;
    a.evidence = AuthEvidence::CREDENTIAL;
    a.examples = vec!["/pet/1".into(), "/pet/2".into()];
    let b = ep("petstore", Method::Delete, "/pet/{id}", NOW + 5, 401);
    let mut c = ep("users", Method::Post, "/users/v1/register", NOW, 201);
    c.source = TemplateSource::Inferred;
    store.apply(&delta(vec![a, b, c])).unwrap();

    let all = store.endpoints(&Query::default()).unwrap();
    assert_eq!(all.len(), 3);
    let got = get(&all, Method::Get, "/pet/{id}");
    assert_eq!(got.service, "petstore");
    assert_eq!(got.source, TemplateSource::Route);
    assert_eq!(
        (
            got.requests,
            got.status.s2xx,
            got.ok_with_auth,
            got.ok_without_auth
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(got.evidence, AuthEvidence::CREDENTIAL);
    assert_eq!(got.examples, vec!["/pet/1", "/pet/2"]);
    assert_eq!(got.callers, vec!["10.0.0.7"]);
    assert_eq!((got.first_seen, got.last_seen), (NOW, NOW));
    let del = get(&all, Method::Delete, "/pet/{id}");
    assert_eq!(
        (del.status.s4xx, del.status.s401, del.ok_without_auth),
        (1, 1, 0)
    );
    assert_eq!(del.evidence, AuthEvidence::REJECTED);
    assert_eq!(
        get(&all, Method::Post, "/users/v1/register").source,
        TemplateSource::Inferred
    );

    let only = store
        .endpoints(&Query {
            service: Some("users".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only.len(), 1);

    let services = store.services(&Query::default()).unwrap();
    assert_eq!(
        services
            .iter()
            .map(|s| (s.name.as_str(), s.endpoints, s.requests))
            .collect::<Vec<_>>(),
        vec![("petstore", 2, 2), ("users", 1, 1)]
    );
    let stats = store.stats().unwrap();
    assert_eq!((stats.endpoints, stats.services, stats.requests), (3, 2, 3));
    assert_eq!(stats.schema_version, SCHEMA_VERSION);

    let refused = ep("petstore", Method::Patch, "/pet/{id}", NOW, 405);
    store.apply(&delta(vec![refused.clone(), refused])).unwrap();
    let all = store.endpoints(&Query::default()).unwrap();
    let patch = get(&all, Method::Patch, "/pet/{id}");
    assert_eq!(
        (patch.status.s405, patch.status.s4xx, patch.requests),
        (2, 2, 2)
    );
}

#[test]
fn restart_continues_the_same_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadowscan.db");
    {
        let mut store = Store::open(&path).unwrap();
        let mut a = ep("shop", Method::Get, "/orders/{id}", NOW, 200);
        a.examples = vec!["/orders/1".into(), "/orders/2".into()];
        a.user_agents = vec!["shop-web/2.3".into()];
        store.apply(&delta(vec![a])).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let mut again = ep("shop", Method::Get, "/orders/{id}", NOW + 2 * H, 500);
    again.examples = vec!["/orders/2".into(), "/orders/3".into(), "/orders/4".into()];
    again.callers = vec!["10.0.0.8".into()];
    again.user_agents = vec!["shop-web/2.3".into(), "curl/8.5.0".into()];
    again.source = TemplateSource::Inferred;
    let mut earlier = ep("shop", Method::Get, "/orders/{id}", NOW - 30, 200);
    earlier.examples.clear();
    store.apply(&delta(vec![again, earlier])).unwrap();

    let all = store.endpoints(&Query::default()).unwrap();
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!((e.requests, e.status.s2xx, e.status.s5xx), (3, 2, 1));
    assert_eq!((e.first_seen, e.last_seen), (NOW - 30, NOW + 2 * H));
    assert_eq!(
        e.examples,
        vec!["/orders/1", "/orders/2", "/orders/3"],
        "distinct, at most 3"
    );
    assert_eq!(e.callers, vec!["10.0.0.7", "10.0.0.8"]);
    assert_eq!(
        e.user_agents,
        vec!["shop-web/2.3", "curl/8.5.0"],
        "distinct"
    );
    assert_eq!(
        e.source,
        TemplateSource::Route,
        "an inferred sighting does not demote a route"
    );
    // A delta the known-row cache would skip, but for a user agent the row lacks.
    let mut scan = ep("shop", Method::Get, "/orders/{id}", NOW + H, 200);
    scan.examples.clear();
    scan.callers.clear();
    scan.user_agents = vec!["Mozilla/5.0 zgrab/0.x".into()];
    store.apply(&delta(vec![scan])).unwrap();
    let e = &store.endpoints(&Query::default()).unwrap()[0];
    assert_eq!(
        e.user_agents,
        vec!["shop-web/2.3", "curl/8.5.0", "Mozilla/5.0 zgrab/0.x"]
    );

    let mut keys = Vec::new();
    store
        .for_each_endpoint_key(|s, m, t, src| keys.push((s.to_string(), m, t, src)))
        .unwrap();
    assert_eq!(
        keys,
        vec![(
            "shop".to_string(),
            Method::Get,
            PathTemplate::parse("/orders/{id}"),
            TemplateSource::Route,
        )]
    );
    // WAL mode is on for files.
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn opening_an_older_schema_migrates_it_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as version 1 of the schema left it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 1;",
            schema::APPLICATION_ID
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO endpoints (service, method, template, source, first_seen, last_seen) VALUES ('legacy', 'GET', '/v1/items', 'route', ?1, ?1)",
            [NOW],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO endpoint_hours (endpoint_id, hour, requests, s2xx, ok_without_auth, first_seen, last_seen) VALUES (1, ?1, 5, 5, 5, ?2, ?2)",
            [hour_of(NOW), NOW],
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let v: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let all = store.endpoints(&Query::default()).unwrap();
    assert_eq!(
        (all[0].template.as_str(), all[0].requests),
        ("/v1/items", 5)
    );
    // Version 3's column starts empty for rows stored before it.
    assert!(all[0].user_agents.is_empty());
    // Version 4's 405 count starts at zero, and new 405s add to it.
    assert_eq!(all[0].status.s405, 0);
    store
        .apply(&delta(vec![ep(
            "legacy",
            Method::Get,
            "/v1/items",
            NOW,
            405,
        )]))
        .unwrap();
    let all = store.endpoints(&Query::default()).unwrap();
    assert_eq!((all[0].status.s405, all[0].status.s4xx), (1, 1));
    // Tables of version 2 work.
    store
        .apply(&Delta {
            overflow: vec![OverflowDelta {
                service: Arc::from("legacy"),
                method: Method::Get,
                hour: hour_of(NOW),
                requests: 9,
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.stats().unwrap().overflow, 9);
    // Version 4's export window starts empty and records what is applied with it.
    assert!(store.recent_exports().unwrap().is_empty());
    let d = ExportDigest::of(b"an export request");
    store.apply_exports(&Delta::default(), &[d]).unwrap();
    assert_eq!(store.recent_exports().unwrap().begin(d), Seen::Stored);
}

#[test]
fn the_export_window_survives_reopening_and_keeps_only_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.db");
    let n = RecentExports::CAPACITY;
    let digests: Vec<ExportDigest> = (0..n as u128 + 3).map(ExportDigest).collect();
    {
        let mut store = Store::open(&path).unwrap();
        // Two commits, the second pushing the three oldest out of the window.
        store
            .apply_exports(&Delta::default(), &digests[..n])
            .unwrap();
        store
            .apply_exports(&Delta::default(), &digests[n..])
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let rows: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM export_digests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, n);
    let mut window = store.recent_exports().unwrap();
    assert_eq!(window.len(), n);
    assert_eq!(window.begin(digests[n + 2]), Seen::Stored);
    assert_eq!(window.begin(digests[3]), Seen::Stored);
    assert_eq!(window.begin(digests[2]), Seen::New, "trimmed");
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    }
    let err = Store::open(&path).err().expect("must refuse");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("upgrade shadowscan"),
        "{msg}"
    );
    let conn = Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

#[test]
fn files_that_are_not_ours_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    let content = "service,method,path\norders,GET,/orders/1\n".repeat(20);
    std::fs::write(&text, &content).unwrap();
    let err = Store::open(&text).err().expect("text file refused");
    assert!(matches!(err, StoreError::NotShadowscan { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        content,
        "the file is not modified"
    );

    let other = dir.path().join("other.sqlite");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let err = Store::open(&other).err().expect("foreign db refused");
    assert!(matches!(err, StoreError::NotShadowscan { .. }), "{err:?}");
    assert!(err.to_string().contains("other.sqlite"));
}

#[test]
fn since_and_until_select_hour_buckets() {
    let mut store = Store::open_in_memory().unwrap();
    let t = |h: i64| NOW - h * H;
    store
        .apply(&delta(vec![
            ep("api", Method::Get, "/old", t(24 * 10), 200),
            ep("api", Method::Get, "/both", t(24 * 10), 200),
            ep("api", Method::Get, "/both", t(24 * 3), 200),
            ep("api", Method::Get, "/both", t(1), 404),
            ep("api", Method::Get, "/both", t(0), 200),
        ]))
        .unwrap();
    let week = store
        .endpoints(&Query {
            since: Some(NOW - 7 * 24 * H),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(week.len(), 1, "/old was last seen 10 days ago: {week:?}");
    assert_eq!((week[0].requests, week[0].status.s404), (3, 1));
    assert_eq!((week[0].first_seen, week[0].last_seen), (t(72), NOW));

    // `since` inside an hour includes that whole hour.
    let last_hour = store
        .endpoints(&Query {
            since: Some(NOW - 60),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(last_hour[0].requests, 1);

    // The previous week, for "what is new since last period".
    let prev = store
        .endpoints(&Query {
            since: Some(NOW - 14 * 24 * H),
            until: Some(NOW - 7 * 24 * H),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        prev.iter().map(|e| e.template.as_str()).collect::<Vec<_>>(),
        vec!["/both", "/old"]
    );
    assert_eq!(store.endpoints(&Query::default()).unwrap().len(), 2);
    assert_eq!(store.stats().unwrap().requests, 5);
}

#[test]
fn corrections_move_counts_without_adding_requests() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .apply(&delta(vec![ep(
            "shop",
            Method::Get,
            "/admin/stats",
            NOW,
            200,
        )]))
        .unwrap();
    let fix = EndpointDelta {
        requests: 0,
        status: StatusCounts::default(),
        ok_with_auth: 1,
        ok_without_auth: -1,
        evidence: AuthEvidence::MIDDLEWARE,
        first_seen: i64::MAX,
        last_seen: i64::MIN,
        examples: vec![],
        callers: vec![],
        source: TemplateSource::Inferred,
        ..ep("shop", Method::Get, "/admin/stats", NOW, 200)
    };
    store.apply(&delta(vec![fix])).unwrap();
    let all = store.endpoints(&Query::default()).unwrap();
    let e = &all[0];
    assert_eq!((e.requests, e.ok_with_auth, e.ok_without_auth), (1, 1, 0));
    assert_eq!(e.evidence, AuthEvidence::MIDDLEWARE);
    assert_eq!((e.first_seen, e.last_seen), (NOW, NOW));
    assert_eq!(e.source, TemplateSource::Route);
}

#[test]
fn edges_overflow_and_traffic_are_stored() {
    let mut store = Store::open_in_memory().unwrap();
    let d = Delta {
        endpoints: vec![ep("orders", Method::Get, "/orders/{id}", NOW, 200)],
        edges: vec![EdgeDelta {
            caller: Arc::from("frontend"),
            service: Arc::from("orders"),
            method: Method::Get,
            template: PathTemplate::parse("/orders/{id}"),
            hour: hour_of(NOW),
            calls: 1,
            first_seen: NOW,
            last_seen: NOW,
        }],
        overflow: vec![OverflowDelta {
            service: Arc::from("orders"),
            method: Method::Get,
            hour: hour_of(NOW),
            requests: 12,
        }],
        traffic: vec![TrafficDelta {
            hour: hour_of(NOW),
            spans: 40,
            ignored: IgnoredCounts {
                unmatched: 3,
                not_http: 20,
                incomplete: 1,
            },
        }],
    };
    store.apply(&d).unwrap();
    store.apply(&d).unwrap();
    let edges = store.edges(&Query::default()).unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(
        (
            edges[0].caller.as_str(),
            edges[0].service.as_str(),
            edges[0].calls
        ),
        ("frontend", "orders", 2)
    );
    let by_caller = store
        .edges(&Query {
            service: Some("frontend".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_caller.len(), 1);
    assert_eq!(
        store.overflow(&Query::default()).unwrap(),
        vec![OverflowStats {
            service: "orders".into(),
            method: Method::Get,
            requests: 24
        }]
    );
    let s = store.stats().unwrap();
    assert_eq!(
        (
            s.spans,
            s.unmatched,
            s.not_http,
            s.incomplete,
            s.overflow,
            s.edges
        ),
        (80, 6, 40, 2, 24, 1)
    );
}

#[test]
fn read_commands_do_not_create_a_database_by_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let err = Store::open_existing(&path)
        .err()
        .expect("missing file refused");
    assert!(matches!(err, StoreError::Missing { .. }));
    assert!(err.to_string().contains("typo.db"), "{err}");
    assert!(!path.exists());
    drop(Store::open(&path).unwrap());
    assert!(Store::open_existing(&path).is_ok());
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/shadowscan.db");
    let err = Store::open(&path).err().expect("cannot create");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn skipping_unchanged_rows_stores_what_a_fresh_connection_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (warm_path, cold_path) = (dir.path().join("warm.db"), dir.path().join("cold.db"));
    let mut warm = Store::open(&warm_path).unwrap();
    let pet = |at: i64, example: &str, caller: Option<&str>| {
        let mut e = ep("petstore", Method::Get, "/pet/{id}", at, 200);
        e.source = TemplateSource::Inferred;
        e.examples = vec![example.into()];
        e.callers = caller.into_iter().map(Into::into).collect();
        e
    };
    let mut steps = vec![
        pet(NOW, "/pet/1", Some("10.0.0.1")),
        pet(NOW, "/pet/1", Some("10.0.0.1")),
        pet(NOW, "/pet/2", None),
        pet(NOW, "/pet/3", Some("10.0.0.2")),
        // The examples are full: each step below changes one thing or nothing.
        pet(NOW, "/pet/4", None),
        pet(NOW, "/pet/5", Some("10.0.0.3")),
        pet(NOW - 100, "/pet/6", None),
        pet(NOW + 50, "/pet/7", None),
        pet(NOW + 10, "/pet/7", None),
        // Callers beyond what a known row keeps inline, a repeat, then a new one.
        pet(NOW, "/pet/1", Some("10.0.0.4")),
        pet(NOW, "/pet/1", Some("10.0.0.5")),
        pet(NOW, "/pet/1", Some("10.0.0.1")),
        pet(NOW, "/pet/1", Some("10.0.0.6")),
    ];
    let mut with_evidence = pet(NOW, "/pet/1", None);
    with_evidence.evidence = AuthEvidence::CREDENTIAL;
    steps.push(with_evidence);
    let mut routed = pet(NOW, "/pet/1", None);
    routed.source = TemplateSource::Route;
    steps.push(routed);
    let mut correction = pet(NOW, "/pet/1", None);
    (correction.requests, correction.status) = (0, StatusCounts::default());
    (correction.ok_with_auth, correction.ok_without_auth) = (1, -1);
    (correction.first_seen, correction.last_seen) = (i64::MAX, i64::MIN);
    correction.examples = vec![];
    steps.push(correction);
    for step in steps {
        let d = Delta {
            edges: vec![EdgeDelta {
                caller: Arc::from("frontend"),
                service: Arc::from("petstore"),
                method: Method::Get,
                template: PathTemplate::parse("/pet/{id}"),
                hour: hour_of(NOW),
                calls: 1,
                first_seen: NOW,
                last_seen: NOW,
            }],
            ..delta(vec![step])
        };
        warm.apply(&d).unwrap();
        // A new connection knows no rows: every step takes the full upsert.
        Store::open(&cold_path).unwrap().apply(&d).unwrap();
    }
    assert!(!warm.known.map.is_empty());
    let cold = Store::open(&cold_path).unwrap();
    let q = Query::default();
    let got = warm.endpoints(&q).unwrap();
    assert_eq!(got, cold.endpoints(&q).unwrap());
    assert_eq!(warm.edges(&q).unwrap(), cold.edges(&q).unwrap());
    // The rows themselves too, including the all-time columns reads do not use.
    let rows = |s: &Store| -> Vec<String> {
        let mut stmt = s
            .conn
            .prepare(
                "SELECT service, method, template, source, first_seen, last_seen, evidence,
                    examples, callers FROM endpoints ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((0..9)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join(" "))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    assert_eq!(rows(&warm), rows(&cold));
    let e = get(&got, Method::Get, "/pet/{id}");
    assert_eq!(e.examples, vec!["/pet/1", "/pet/2", "/pet/3"]);
    assert_eq!(
        e.callers,
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    );
    assert_eq!((e.first_seen, e.last_seen), (NOW - 100, NOW + 50));
    assert_eq!(
        (e.source, e.evidence),
        (TemplateSource::Route, AuthEvidence::CREDENTIAL)
    );
    assert_eq!((e.requests, e.ok_with_auth, e.ok_without_auth), (15, 1, 14));
}
