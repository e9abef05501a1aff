//! Normalizer tests on span shapes taken from real instrumentation: Flask (old conventions, and
//! with OTEL_SEMCONV_STABILITY_OPT_IN=http), Express 4 and 5, Spring Boot under the Java agent,
//! and what the eval traffic generator emits.

use std::borrow::Cow;

use super::*;
use crate::model::{AttrValue, SpanKind};

const TRACE: [u8; 16] = [7; 16];

fn s(v: &str) -> AttrValue<'static> {
    AttrValue::Str(Cow::Owned(v.to_string()))
}

fn i(v: i64) -> AttrValue<'static> {
    AttrValue::Int(v)
}

fn span(
    id: u8,
    parent: u8,
    kind: SpanKind,
    name: &str,
    attrs: Vec<(AttrKey, AttrValue<'static>)>,
) -> SpanView<'static> {
    SpanView {
        trace_id: TRACE,
        span_id: [id; 8],
        parent_span_id: [parent; 8],
        name: Cow::Owned(name.to_string()),
        kind,
        start_unix_nano: 1_763_000_000_000_000_000 + id as u64,
        end_unix_nano: 1_763_000_000_100_000_000,
        attrs,
    }
}

fn resource(name: &str) -> ResourceView<'static> {
    ResourceView {
        service_name: Some(Cow::Owned(name.to_string())),
        service_namespace: None,
    }
}

fn run<'a>(res: &ResourceView<'_>, spans: &[SpanView<'a>]) -> NormalizedBatch<'a> {
    run_with(&Normalizer::default().explaining(), res, spans)
}

fn run_with<'a>(
    n: &Normalizer,
    res: &ResourceView<'_>,
    spans: &[SpanView<'a>],
) -> NormalizedBatch<'a> {
    let mut b = n.batch();
    for sp in spans {
        b.push(res, sp);
    }
    b.finish()
}

fn only<'b, 'a>(b: &'b NormalizedBatch<'a>) -> &'b Observation<'a> {
    assert_eq!(b.observations.len(), 1, "{b:#?}");
    &b.observations[0]
}

/// opentelemetry-instrumentation-flask, default (old) conventions.
fn flask_old(id: u8, route: Option<&str>, target: &str, status: i64) -> SpanView<'static> {
    let mut attrs = vec![
        (AttrKey::HttpMethod, s("GET")),
        (AttrKey::HttpTarget, s(target)),
        (AttrKey::PeerAddress, s("127.0.0.1")),
        (AttrKey::HttpStatusCode, i(status)),
    ];
    if let Some(r) = route {
        attrs.push((AttrKey::HttpRoute, s(r)));
    }
    let name = route.map_or("GET".to_string(), |r| format!("GET {r}"));
    span(id, 0, SpanKind::Server, &name, attrs)
}

/// Express 4 behind @opentelemetry/instrumentation-http + instrumentation-express.
fn express_server(
    id: u8,
    method: &str,
    route: Option<&str>,
    target: &str,
    status: i64,
) -> SpanView<'static> {
    let mut attrs = vec![
        (AttrKey::HttpMethod, s(method)),
        (AttrKey::HttpTarget, s(target)),
        (AttrKey::PeerAddress, s("::ffff:127.0.0.1")),
        (AttrKey::HttpStatusCode, i(status)),
    ];
    if let Some(r) = route {
        attrs.push((AttrKey::HttpRoute, s(r)));
    }
    let name = route.map_or(method.to_string(), |r| format!("{method} {r}"));
    span(id, 0, SpanKind::Server, &name, attrs)
}

fn express_layer(
    id: u8,
    parent: u8,
    ty: &str,
    name: &str,
    route: Option<&str>,
) -> SpanView<'static> {
    let mut attrs = vec![
        (AttrKey::ExpressType, s(ty)),
        (AttrKey::ExpressName, s(name)),
    ];
    if let Some(r) = route {
        attrs.push((AttrKey::HttpRoute, s(r)));
    }
    let span_name = match ty {
        "middleware" => format!("middleware - {name}"),
        "router" => format!("router - {name}"),
        _ => format!("request handler - {name}"),
    };
    span(id, parent, SpanKind::Internal, &span_name, attrs)
}

#[test]
fn flask_old_conventions_with_werkzeug_route() {
    let b = run(
        &resource("vampi"),
        &[flask_old(
            1,
            Some("/users/v1/<username>"),
            "/users/v1/name1?x=1",
            200,
        )],
    );
    let o = only(&b);
    assert_eq!(&*o.service, "vampi");
    assert_eq!(o.method, Method::Get);
    assert_eq!(o.template.as_str(), "/users/v1/{username}");
    assert_eq!(o.source, TemplateSource::Route);
    assert_eq!(o.status, Some(200));
    assert_eq!(o.path, "/users/v1/name1", "query stripped from the example");
    assert_eq!(o.client.as_deref(), Some("127.0.0.1"));
    assert_eq!(o.evidence, AuthEvidence::NONE);
    assert_eq!(
        o.span,
        SpanRef {
            trace_id: TRACE,
            span_id: [1; 8]
        }
    );
    assert_eq!(b.spans, 1);
}

#[test]
fn flask_stable_conventions_opt_in() {
    let sp = span(
        1,
        0,
        SpanKind::Server,
        "POST /books/v1/<book_title>",
        vec![
            (AttrKey::RequestMethod, s("POST")),
            (AttrKey::UrlPath, s("/books/v1/bookTitle77")),
            (AttrKey::ClientAddress, s("10.1.2.3")),
            (AttrKey::PeerAddress, s("10.9.9.9")),
            (AttrKey::ResponseStatusCode, i(201)),
            (AttrKey::HttpRoute, s("/books/v1/<book_title>")),
            (AttrKey::Credential, s("[REDACTED]")),
            (AttrKey::UserAgent, s("python-requests/2.32.3")),
        ],
    );
    let b = run(&resource("vampi"), &[sp]);
    let o = only(&b);
    assert_eq!(o.method, Method::Post);
    assert_eq!(o.user_agent.as_deref(), Some("python-requests/2.32.3"));
    assert_eq!(o.template.as_str(), "/books/v1/{book_title}");
    assert_eq!(
        o.client.as_deref(),
        Some("10.1.2.3"),
        "client.address wins over the peer"
    );
    assert_eq!(
        o.evidence,
        AuthEvidence::CREDENTIAL,
        "a redacted header still counts"
    );
}

#[test]
fn express4_auth_middleware_is_joined_and_plain_middleware_is_not() {
    let spans = [
        express_server(1, "GET", Some("/users/:id"), "/users/42", 200),
        express_layer(2, 1, "middleware", "query", None),
        express_layer(3, 1, "middleware", "expressInit", None),
        express_layer(4, 1, "middleware", "requireAuth", None),
        express_layer(5, 1, "request_handler", "/users/:id", Some("/users/:id")),
        span(6, 5, SpanKind::Client, "SELECT app.records", vec![]),
    ];
    let b = run(&resource("shop"), &spans);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/users/{id}");
    assert_eq!(o.source, TemplateSource::Route);
    assert_eq!(o.evidence, AuthEvidence::MIDDLEWARE);
    assert_eq!(b.client_calls.len(), 1);
    assert_eq!(b.ignored.not_http, 2, "query and expressInit give nothing");
    assert_eq!(b.spans, 6);
    assert!(b.orphan_evidence.is_empty());
}

#[test]
fn express_without_auth_has_no_evidence() {
    let spans = [
        express_server(1, "GET", Some("/users/:id"), "/users/42", 200),
        express_layer(2, 1, "middleware", "query", None),
        express_layer(3, 1, "middleware", "jsonParser", None),
        express_layer(4, 1, "router", "/auth", None),
        express_layer(5, 1, "request_handler", "/users/:id", Some("/users/:id")),
    ];
    let b = run(&resource("shop"), &spans);
    assert_eq!(only(&b).evidence, AuthEvidence::NONE);
}

#[test]
fn express_rejection_reports_the_mount_path_which_is_not_the_template() {
    // app.use('/admin', requireAuth, adminRouter); requireAuth answers 401 before the router
    // matches /stats, so http.route is the mount path.
    let spans = [
        express_server(1, "GET", Some("/admin"), "/admin/stats", 401),
        express_layer(2, 1, "middleware", "requireAuth", None),
        express_layer(3, 1, "router", "/admin", Some("/admin")),
    ];
    let b = run(&resource("shop"), &spans);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/admin/stats");
    assert_eq!(o.source, TemplateSource::Inferred);
    // A route was named (the mount path): the inventory never takes it for a probe.
    assert!(o.routed);
    assert_eq!(
        o.evidence,
        AuthEvidence::MIDDLEWARE | AuthEvidence::REJECTED
    );
    assert!(
        o.explanation.as_deref().unwrap().contains("prefix"),
        "{:?}",
        o.explanation
    );

    // The same rejection for a path with an id under the mount path.
    let spans = [express_server(
        1,
        "DELETE",
        Some("/admin"),
        "/admin/users/8812",
        403,
    )];
    let o = run(&resource("shop"), &spans).observations.remove(0);
    assert_eq!(o.template.as_str(), "/admin/users/{id}");
    assert_eq!(o.evidence, AuthEvidence::REJECTED);
}

#[test]
fn nested_routers_the_most_specific_matching_route_wins() {
    // The server span and the router span carry the mount path; the handler the full route.
    let spans = [
        express_server(1, "GET", Some("/api/v1"), "/api/v1/users/42/posts", 200),
        express_layer(2, 1, "router", "/users/:userId", Some("/api/v1")),
        express_layer(
            3,
            2,
            "request_handler",
            "/posts",
            Some("/api/v1/users/:userId/posts"),
        ),
    ];
    let b = run(&resource("blog"), &spans);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/api/v1/users/{userId}/posts");
    assert_eq!(o.source, TemplateSource::Route);

    // Without the handler span: the mount path covers a prefix, the rest is inferred.
    let spans = [
        express_server(1, "GET", Some("/api/v1"), "/api/v1/users/42/posts", 200),
        express_layer(2, 1, "router", "/users/:userId", Some("/api/v1")),
    ];
    let o = run(&resource("blog"), &spans).observations.remove(0);
    assert_eq!(o.template.as_str(), "/api/v1/users/{id}/posts");
    assert_eq!(o.source, TemplateSource::Inferred);
}

#[test]
fn a_concrete_path_reported_as_route_is_not_trusted() {
    let spans = [
        express_server(
            1,
            "GET",
            Some("/users/8812/orders/550e8400-e29b-41d4-a716-446655440000"),
            "/users/8812/orders/550e8400-e29b-41d4-a716-446655440000",
            200,
        ),
        express_server(2, "GET", Some("/health"), "/health", 200),
        // a genuine literal route on an id-looking path is still a concrete path: 404 noise
        express_server(3, "GET", Some("/files/12345"), "/files/12345", 404),
    ];
    let b = run(&resource("shop"), &spans);
    assert_eq!(b.observations.len(), 2);
    let o = &b.observations[0];
    assert_eq!(o.template.as_str(), "/users/{id}/orders/{uuid}");
    assert_eq!(o.source, TemplateSource::Inferred);
    assert!(o.explanation.as_deref().unwrap().contains("concrete path"));
    assert_eq!(b.observations[1].template.as_str(), "/health");
    assert_eq!(b.observations[1].source, TemplateSource::Route);
    assert_eq!(b.ignored.unmatched, 1);
}

#[test]
fn a_literal_route_is_checked_against_the_path_as_sent() {
    // Literals match case-insensitively, but a token is told by its case: the route's own
    // text looks like a word, the path sent is a token. The same route, first as sent.
    let route = "/p/release2024candidate";
    let spans = [
        express_server(1, "GET", Some(route), route, 200),
        express_server(2, "GET", Some(route), "/p/Release2024Candidate", 200),
        express_server(3, "GET", Some(route), route, 200),
    ];
    let b = run(&resource("shop"), &spans);
    let got: Vec<_> = b
        .observations
        .iter()
        .map(|o| (o.template.as_str(), o.source))
        .collect();
    assert_eq!(
        got,
        [
            (route, TemplateSource::Route),
            ("/p/{token}", TemplateSource::Inferred),
            (route, TemplateSource::Route),
        ]
    );
}

#[test]
fn child_routes_arriving_before_their_server_span_still_count() {
    let spans = [
        express_layer(
            3,
            1,
            "request_handler",
            "/orders/:orderId",
            Some("/orders/:orderId"),
        ),
        express_layer(2, 1, "middleware", "passport.authenticate", None),
        express_server(1, "GET", None, "/orders/ord_A7", 200),
    ];
    let b = run(&resource("shop"), &spans);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/orders/{orderId}");
    assert_eq!(o.evidence, AuthEvidence::MIDDLEWARE);
    assert!(o.routed, "a child's route counts as the request's");
}

#[test]
fn express5_route_level_middleware() {
    let mut layer = express_layer(2, 1, "request_handler", "/admin/stats", None);
    layer.attrs.push((AttrKey::RouterName, s("requireAuth")));
    let spans = [
        express_server(1, "GET", Some("/admin/stats"), "/admin/stats", 200),
        layer,
    ];
    assert_eq!(
        only(&run(&resource("shop"), &spans)).evidence,
        AuthEvidence::MIDDLEWARE
    );
}

#[test]
fn unmatched_404s_are_scanner_noise_but_404s_on_real_routes_are_endpoints() {
    let spans = [
        express_server(1, "GET", None, "/.env", 404),
        express_server(2, "GET", None, "/wp-login.php", 404),
        express_server(3, "GET", Some("/users/:id"), "/users/999999", 404),
        // a mount path that does not cover the path is no route either
        express_server(4, "GET", Some("/admin"), "/admin/.git/config", 404),
        // a catch-all not-found handler is not a route
        express_server(5, "GET", Some("*"), "/phpmyadmin/index.php", 404),
        express_server(6, "GET", None, "/users/12", 200),
    ];
    let b = run(&resource("shop"), &spans);
    let templates: Vec<_> = b.observations.iter().map(|o| o.template.as_str()).collect();
    assert_eq!(templates, ["/users/{id}", "/users/{id}"]);
    assert_eq!(b.ignored.unmatched, 4);
    assert_eq!(b.spans, 6);
    let routed: Vec<_> = b.observations.iter().map(|o| o.routed).collect();
    assert_eq!(routed, [true, false]);
}

/// opentelemetry-instrumentation-django (old conventions): `http.route` is
/// `ResolverMatch.route`, DRF router regexes joined without a leading slash.
fn django(id: u8, method: &str, route: &str, target: &str, status: i64) -> SpanView<'static> {
    let attrs = vec![
        (AttrKey::HttpMethod, s(method)),
        (
            AttrKey::HttpUrl,
            s(&format!("http://127.0.0.1:8000{target}")),
        ),
        (AttrKey::HttpTarget, s(target)),
        (AttrKey::PeerAddress, s("127.0.0.1")),
        (AttrKey::UserAgent, s("python-requests/2.32.3")),
        (AttrKey::HttpRoute, s(route)),
        (AttrKey::HttpStatusCode, i(status)),
    ];
    span(id, 0, SpanKind::Server, &format!("{method} {route}"), attrs)
}

#[test]
fn django_drf_router_regex_routes_are_trusted_templates() {
    let b = run(
        &resource("drf"),
        &[
            django(
                1,
                "GET",
                "api/users/(?P<username>[^/]+)/orders/$",
                "/api/users/carol.w/orders/",
                200,
            ),
            django(
                2,
                "GET",
                "api/books/(?P<pk>[^/.]+)/$",
                "/api/books/9999/",
                404,
            ),
            django(
                3,
                "GET",
                "api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$",
                "/api/books/7.json",
                200,
            ),
            django(
                4,
                "GET",
                "^api/archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$",
                "/api/archive/2024/05/",
                200,
            ),
            django(5, "GET", "api/items/<int:id>/", "/api/items/12/", 200),
        ],
    );
    let got: Vec<(&str, TemplateSource)> = b
        .observations
        .iter()
        .map(|o| (o.template.as_str(), o.source))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/api/users/{username}/orders", TemplateSource::Route),
            // The view's own 404 (no such book) is the endpoint's, not scanner noise.
            ("/api/books/{pk}", TemplateSource::Route),
            ("/api/books/{pk}", TemplateSource::Route),
            ("/api/archive/{year}/{month}", TemplateSource::Route),
            ("/api/items/{id}", TemplateSource::Route),
        ]
    );
    assert_eq!(b.ignored.unmatched, 0);
}

/// NestJS 11 under @opentelemetry/instrumentation-http and -nestjs-core: the server span,
/// the `request_context` span named `Controller.method` with the route, and the `handler`
/// span. A controller whose name sounds like auth is not a guard.
#[test]
fn nestjs_controller_names_are_not_auth_evidence() {
    let server = span(
        1,
        0,
        SpanKind::Server,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::HttpTarget, s("/internal/sessions")),
            (AttrKey::HttpStatusCode, i(200)),
        ],
    );
    let ctx = span(
        2,
        1,
        SpanKind::Internal,
        "InternalController.listSessions",
        vec![
            (AttrKey::NestjsType, s("request_context")),
            (AttrKey::HttpRoute, s("/internal/sessions")),
            (AttrKey::HttpMethod, s("GET")),
        ],
    );
    let handler = span(
        3,
        2,
        SpanKind::Internal,
        "listSessions",
        vec![(AttrKey::NestjsType, s("handler"))],
    );
    let b = run(&resource("nest"), &[handler, ctx, server]);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/internal/sessions");
    assert_eq!(o.source, TemplateSource::Route);
    assert_eq!(o.evidence, AuthEvidence::NONE, "{o:#?}");
}

#[test]
fn spring_boot_with_spring_security() {
    let server = span(
        1,
        0,
        SpanKind::Server,
        "GET /owners/{ownerId}",
        vec![
            (AttrKey::RequestMethod, s("GET")),
            (AttrKey::UrlPath, s("/owners/7")),
            (AttrKey::HttpRoute, s("/owners/{ownerId}")),
            (AttrKey::ResponseStatusCode, i(200)),
            (AttrKey::ClientAddress, s("192.0.2.10")),
        ],
    );
    let spans = [
        server,
        span(
            2,
            1,
            SpanKind::Internal,
            "security filterchain before",
            vec![],
        ),
        span(3, 1, SpanKind::Internal, "secured request", vec![]),
        span(
            4,
            1,
            SpanKind::Internal,
            "security filterchain after",
            vec![],
        ),
        span(
            5,
            1,
            SpanKind::Internal,
            "OwnerController.showOwner",
            vec![],
        ),
    ];
    let b = run(&resource("petclinic"), &spans);
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/owners/{ownerId}");
    assert_eq!(o.evidence, AuthEvidence::MIDDLEWARE);
    assert_eq!(b.ignored.not_http, 2);
}

#[test]
fn grandchildren_climb_to_their_server_span_and_orphans_are_returned() {
    let spans = [
        express_server(1, "GET", Some("/me"), "/me", 200),
        span(2, 1, SpanKind::Internal, "handler", vec![]),
        span(3, 2, SpanKind::Internal, "verifyJwt", vec![]),
        // children of a server span exported in another request
        span(
            10,
            9,
            SpanKind::Internal,
            "middleware - requireAuth",
            vec![],
        ),
        span(
            11,
            10,
            SpanKind::Internal,
            "load",
            vec![(AttrKey::Identity, s("u-1"))],
        ),
    ];
    let b = run(&resource("shop"), &spans);
    assert_eq!(only(&b).evidence, AuthEvidence::MIDDLEWARE);
    assert_eq!(
        b.orphan_evidence,
        vec![(
            SpanRef {
                trace_id: TRACE,
                span_id: [9; 8]
            },
            AuthEvidence::MIDDLEWARE | AuthEvidence::IDENTITY
        )]
    );
}

#[test]
fn rpc_client_and_unspecified_spans() {
    let grpc = span(
        1,
        0,
        SpanKind::Server,
        "billing.v1.Billing/Charge",
        vec![
            (AttrKey::RpcSystem, s("grpc")),
            (AttrKey::HttpMethod, s("POST")),
            (AttrKey::HttpTarget, s("/billing.v1.Billing/Charge")),
        ],
    );
    let client = span(
        2,
        1,
        SpanKind::Client,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::UrlFull, s("http://inventory:8080/items/7")),
        ],
    );
    let unspecified_root = span(
        3,
        0,
        SpanKind::Unspecified,
        "GET /health",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::HttpTarget, s("/health")),
        ],
    );
    let unspecified_client = span(
        4,
        0,
        SpanKind::Unspecified,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::HttpUrl, s("https://x/y")),
        ],
    );
    let internal_root = span(5, 0, SpanKind::Internal, "cron", vec![]);
    let b = run(
        &resource("svc"),
        &[
            grpc,
            client,
            unspecified_root,
            unspecified_client,
            internal_root,
        ],
    );
    let o = only(&b);
    assert_eq!(o.template.as_str(), "/health");
    assert_eq!(b.client_calls.len(), 1);
    assert_eq!(&*b.client_calls[0].service, "svc");
    assert_eq!(b.ignored.not_http, 3);

    let strict = Normalizer::new(Rules {
        unspecified_roots: false,
        ..Default::default()
    });
    let sp = span(
        3,
        0,
        SpanKind::Unspecified,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::HttpTarget, s("/health")),
        ],
    );
    assert!(run_with(&strict, &resource("svc"), &[sp])
        .observations
        .is_empty());
}

#[test]
fn database_and_broker_clients_are_not_callers() {
    // Flask-SQLAlchemy and kafka-python instrumentation: CLIENT spans that no HTTP server
    // span can be a child of, so they must not wait in the caller join.
    let db = span(
        2,
        1,
        SpanKind::Client,
        "SELECT shop.orders",
        vec![(AttrKey::DataSystem, s("postgresql"))],
    );
    let kafka = span(
        3,
        1,
        SpanKind::Client,
        "orders publish",
        vec![(AttrKey::DataSystem, s("kafka"))],
    );
    let http = span(
        4,
        1,
        SpanKind::Client,
        "GET",
        vec![
            (AttrKey::RequestMethod, s("GET")),
            (AttrKey::UrlFull, s("http://inventory:8080/items/7")),
        ],
    );
    let b = run(&resource("shop"), &[db, kafka, http]);
    assert_eq!(b.client_calls.len(), 1);
    assert_eq!(b.client_calls[0].span.span_id, [4; 8]);
    assert_eq!(b.ignored.not_http, 2);
}

#[test]
fn incomplete_server_spans_are_counted() {
    let no_path = span(
        1,
        0,
        SpanKind::Server,
        "GET",
        vec![(AttrKey::HttpMethod, s("GET"))],
    );
    let no_method = span(
        2,
        0,
        SpanKind::Server,
        "x",
        vec![(AttrKey::UrlPath, s("/x"))],
    );
    let nothing = span(3, 0, SpanKind::Server, "consume", vec![]);
    let b = run(&resource("svc"), &[no_path, no_method, nothing]);
    assert!(b.observations.is_empty());
    assert_eq!(b.ignored.incomplete, 2);
    assert_eq!(b.ignored.not_http, 1);
}

#[test]
fn service_names_and_namespaces() {
    let sp = flask_old(1, None, "/", 200);
    let ns = ResourceView {
        service_name: Some(Cow::Borrowed("checkout")),
        service_namespace: Some(Cow::Borrowed("shop")),
    };
    assert_eq!(
        &*only(&run(&ns, std::slice::from_ref(&sp))).service,
        "shop/checkout"
    );
    assert_eq!(
        &*only(&run(&ResourceView::default(), std::slice::from_ref(&sp))).service,
        "unknown_service"
    );
    // consecutive spans of one resource share the service string
    let b = run(
        &ns,
        &[flask_old(1, None, "/a", 200), flask_old(2, None, "/b", 200)],
    );
    assert!(Arc::ptr_eq(
        &b.observations[0].service,
        &b.observations[1].service
    ));
}

/// The eval generator's three attribute forms and both route syntaxes give one endpoint.
#[test]
fn eval_generator_shapes_agree() {
    let new = |route: Option<&str>| {
        let mut a = vec![
            (AttrKey::RequestMethod, s("GET")),
            (AttrKey::UrlPath, s("/api/v3/pet/1234567")),
            (AttrKey::ResponseStatusCode, i(200)),
            (AttrKey::ClientAddress, s("203.0.113.9")),
            (AttrKey::Identity, s("user-17")),
        ];
        if let Some(r) = route {
            a.push((AttrKey::HttpRoute, s(r)));
        }
        span(1, 0, SpanKind::Server, "GET", a)
    };
    let old = span(
        1,
        0,
        SpanKind::Server,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (
                AttrKey::HttpTarget,
                s("/api/v3/pet/1234567?collection_id=3&page=2"),
            ),
            (AttrKey::HttpStatusCode, i(200)),
            (AttrKey::PeerAddress, s("198.51.100.4")),
        ],
    );
    let url = span(
        1,
        0,
        SpanKind::Server,
        "GET",
        vec![
            (AttrKey::HttpMethod, s("GET")),
            (
                AttrKey::HttpUrl,
                s("https://petstore.example.com/api/v3/pet/1234567/"),
            ),
            (AttrKey::HttpStatusCode, i(200)),
        ],
    );
    let mut shapes = Vec::new();
    for sp in [
        new(None),
        new(Some("/api/v3/pet/{petId}")),
        new(Some("/api/v3/pet/:petId")),
        old,
        url,
    ] {
        let b = run(&resource("petstore"), &[sp]);
        shapes.push(only(&b).template.shape());
    }
    assert!(shapes.iter().all(|t| t == "/api/v3/pet/{}"), "{shapes:?}");

    // secured operation with an auth span, and the query / db children
    let spans = [
        new(None),
        span(2, 1, SpanKind::Internal, "middleware - query", vec![]),
        span(3, 1, SpanKind::Internal, "middleware - verifyToken", vec![]),
        span(4, 1, SpanKind::Client, "SELECT app.records", vec![]),
    ];
    let b = run(&resource("petstore"), &spans);
    assert_eq!(
        only(&b).evidence,
        AuthEvidence::MIDDLEWARE | AuthEvidence::IDENTITY
    );
}

#[test]
fn session_ids_in_matrix_params_never_reach_the_example() {
    let b = run(
        &resource("legacy"),
        &[flask_old(1, None, "/cart;jsessionid=0AF3B2/items/17", 200)],
    );
    let o = only(&b);
    assert_eq!(o.path, "/cart/items/17");
    assert_eq!(o.template.as_str(), "/cart/items/{id}");
    assert_eq!(o.explanation.as_deref(), Some("segment 3: integer"));
}

#[test]
fn overrides_from_toml_force_parameters_and_literals() {
    #[derive(Deserialize)]
    struct Config {
        normalize: Rules,
    }
    let cfg: Config = toml::from_str(
        r#"
        [normalize]
        [[normalize.overrides]]
        service = "shop"
        template = "/files/{name}"
        literal = ["/api/me", "/reports/2024"]

        [[normalize.overrides]]
        templates = ["/wiki/:page"]
        "#,
    )
    .unwrap();
    assert_eq!(cfg.normalize.overrides.len(), 2);
    assert_eq!(cfg.normalize.overrides[0].templates, ["/files/{name}"]);
    assert_eq!(cfg.normalize.auth, AuthRules::default());
    let n = Normalizer::new(cfg.normalize);
    let t = |svc: &str, path: &str| {
        run_with(&n, &resource(svc), &[flask_old(1, None, path, 200)]).observations[0]
            .template
            .to_string()
    };
    assert_eq!(t("shop", "/files/readme.txt"), "/files/{name}");
    assert_eq!(t("shop", "/files/a/b"), "/files/a/b", "one segment only");
    assert_eq!(t("shop", "/reports/2024"), "/reports/2024");
    assert_eq!(t("other", "/reports/2024"), "/reports/{id}");
    assert_eq!(t("other", "/files/readme.txt"), "/files/readme.txt");
    assert_eq!(
        t("other", "/wiki/Main_Page"),
        "/wiki/{page}",
        "unscoped overrides apply to all"
    );

    let eps: Vec<_> = [
        "alice-1", "bob2", "carol", "dave-4", "erin", "frank6", "gina", "hank8", "me",
    ]
    .iter()
    .map(|u| (Method::Get, PathTemplate::parse(&format!("/api/{u}")), 1))
    .collect();
    let merges = n.merge_high_cardinality("shop", &eps);
    assert_eq!(merges.len(), 1);
    assert_eq!(
        merges[0].members,
        (0..8).collect::<Vec<_>>(),
        "/api/me stays literal"
    );
}

#[test]
fn the_documented_config_example_parses() {
    let rules: Rules = toml::from_str(
        r#"
        unspecified_roots = true
        slashy_params = ["path", "file_path"]
        [auth]
        span_patterns = ["auth", "jwt", "tenantGuard"]
        span_exclusions = ["author"]
        rejected_statuses = [401, 403]
        [infer]
        protect_first_segment = true
        min_hex_len = 12
        min_token_len = 16
        min_digits = 3
        [learn]
        min_distinct = 8
        min_irregular = 2
        min_distinct_words = 100
        max_endpoints = 200000
        [[overrides]]
        service = "shop"
        templates = ["/files/{name}"]
        literal = ["/api/me"]
        "#,
    )
    .unwrap();
    assert_eq!(rules.infer, InferRules::default());
    assert_eq!(rules.learn, LearnRules::default());
    assert_eq!(rules.auth.span_patterns.len(), 3);
    assert!(toml::from_str::<Rules>("").unwrap() == Rules::default());
}

#[test]
fn unknown_config_keys_are_rejected() {
    let err = toml::from_str::<Rules>("unspecifed_roots = true").unwrap_err();
    assert!(err.to_string().contains("unspecifed_roots"), "{err}");
}

#[test]
fn counts_add_up() {
    let spans = [
        express_server(1, "GET", Some("/users/:id"), "/users/1", 200),
        express_layer(2, 1, "middleware", "requireAuth", None),
        express_layer(3, 1, "middleware", "query", None),
        span(4, 1, SpanKind::Client, "GET", vec![]),
        express_server(5, "GET", None, "/.env", 404),
        span(
            6,
            0,
            SpanKind::Server,
            "GET",
            vec![(AttrKey::HttpMethod, s("GET"))],
        ),
    ];
    let b = run(&resource("shop"), &spans);
    let evidence_spans = 1;
    let ig = b.ignored;
    assert_eq!(
        b.spans,
        b.observations.len() as u64
            + b.client_calls.len() as u64
            + evidence_spans
            + ig.unmatched
            + ig.not_http
            + ig.incomplete
    );
}

/// Throughput on eval-shaped batches (server spans in three conventions, 30% with routes,
/// middleware and DB children). Prints figures; asserts nothing about time. Run with
/// `cargo test --release --lib normalize::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let paths = [
        "/api/v3/pet/1234567",
        "/api/v3/store/order/88",
        "/api/v3/user/octocat",
        "/repos/alpha/my-repo-12/commits/3f786850e387550fdab836ed7e6dc881de23001b",
        "/internal/accounts/550e8400-e29b-41d4-a716-446655440000/tokens",
    ];
    let mut spans = Vec::new();
    let mut id = 1u8;
    for k in 0..250usize {
        let path = paths[k % paths.len()];
        let sid = id;
        let mut attrs = match k % 10 {
            0..=4 => vec![
                (AttrKey::RequestMethod, s("GET")),
                (AttrKey::UrlPath, s(path)),
                (AttrKey::ResponseStatusCode, i(200)),
                (AttrKey::ClientAddress, s("203.0.113.7")),
            ],
            5..=8 => vec![
                (AttrKey::HttpMethod, s("GET")),
                (AttrKey::HttpTarget, s(&format!("{path}?page=2"))),
                (AttrKey::HttpStatusCode, i(200)),
                (AttrKey::PeerAddress, s("198.51.100.3")),
            ],
            _ => vec![
                (AttrKey::HttpMethod, s("GET")),
                (
                    AttrKey::HttpUrl,
                    s(&format!("https://petstore.example.com{path}")),
                ),
                (AttrKey::HttpStatusCode, i(200)),
            ],
        };
        if k % 10 < 3 {
            attrs.push((AttrKey::HttpRoute, s("/api/v3/pet/{petId}")));
            attrs[1] = (AttrKey::UrlPath, s("/api/v3/pet/1234567"));
        }
        let mut sp = span(sid, 0, SpanKind::Server, "GET", attrs);
        sp.trace_id[0] = k as u8;
        sp.trace_id[1] = (k >> 8) as u8;
        spans.push(sp);
        for (name, kind) in [
            ("middleware - query", SpanKind::Internal),
            ("middleware - verifyToken", SpanKind::Internal),
            ("SELECT app.records", SpanKind::Client),
        ] {
            id = id.wrapping_add(1);
            let mut c = span(id, sid, kind, name, vec![]);
            c.trace_id = spans.last().unwrap().trace_id;
            spans.push(c);
        }
        id = id.wrapping_add(1);
    }
    let n = Normalizer::default();
    let res = resource("petstore");
    let rounds = 2000;
    // CPU time of this thread, not wall clock: the machine is shared.
    let cpu = || {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage only writes into the struct we pass.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        std::time::Duration::new(ru.ru_utime.tv_sec as u64, ru.ru_utime.tv_usec as u32 * 1000)
            + std::time::Duration::new(ru.ru_stime.tv_sec as u64, ru.ru_stime.tv_usec as u32 * 1000)
    };
    let start = cpu();
    let mut obs = 0;
    for _ in 0..rounds {
        let mut b = n.batch();
        for sp in &spans {
            b.push(&res, sp);
        }
        obs += std::hint::black_box(b.finish()).observations.len();
    }
    let el = cpu() - start;
    let total = (rounds * spans.len()) as f64;
    println!(
        "{} spans/batch ({} server): {:.0} CPU-ns/span, {:.2} M spans per CPU-second, {:.0} CPU-ns/server span; {obs} observations",
        spans.len(),
        spans.len() / 4,
        el.as_nanos() as f64 / total,
        total / el.as_secs_f64() / 1e6,
        el.as_nanos() as f64 / (rounds * spans.len() / 4) as f64,
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = AttrValue<'static>> {
        prop_oneof![
            ".{0,40}".prop_map(|v| AttrValue::Str(Cow::Owned(v))),
            "(/[a-z0-9%;=.]{0,8}){0,6}".prop_map(|v| AttrValue::Str(Cow::Owned(v))),
            any::<i64>().prop_map(AttrValue::Int),
            Just(AttrValue::Present),
        ]
    }

    fn any_span() -> impl Strategy<Value = SpanView<'static>> {
        (
            0u8..4,
            0u8..4,
            0i32..6,
            ".{0,20}",
            proptest::collection::vec((0usize..AttrKey::COUNT, value()), 0..8),
        )
            .prop_map(|(id, parent, kind, name, attrs)| {
                let keys = [
                    AttrKey::RequestMethod,
                    AttrKey::HttpMethod,
                    AttrKey::UrlPath,
                    AttrKey::HttpTarget,
                    AttrKey::UrlFull,
                    AttrKey::HttpUrl,
                    AttrKey::ResponseStatusCode,
                    AttrKey::HttpStatusCode,
                    AttrKey::HttpRoute,
                    AttrKey::ClientAddress,
                    AttrKey::PeerAddress,
                    AttrKey::Identity,
                    AttrKey::Credential,
                    AttrKey::ExpressName,
                    AttrKey::ExpressType,
                    AttrKey::RouterName,
                    AttrKey::NestjsType,
                    AttrKey::FastifyType,
                    AttrKey::RpcSystem,
                    AttrKey::DataSystem,
                    AttrKey::UserAgent,
                ];
                let mut sp = span(id, parent, SpanKind::from_i32(kind), &name, vec![]);
                sp.attrs = attrs.into_iter().map(|(k, v)| (keys[k], v)).collect();
                sp
            })
    }

    proptest! {
        /// Arbitrary spans in arbitrary order: no panic, every span accounted for once at most,
        /// every template canonical.
        #[test]
        fn never_panics_and_templates_are_canonical(spans in proptest::collection::vec(any_span(), 0..12)) {
            let b = run(&resource("fuzz"), &spans);
            prop_assert_eq!(b.spans, spans.len() as u64);
            let accounted = b.observations.len() as u64 + b.client_calls.len() as u64
                + b.ignored.unmatched + b.ignored.not_http + b.ignored.incomplete;
            prop_assert!(accounted <= b.spans);
            for o in &b.observations {
                prop_assert_eq!(PathTemplate::parse(o.template.as_str()), o.template.clone());
            }
        }
    }
}
