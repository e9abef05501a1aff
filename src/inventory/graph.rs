//! The endpoint graph: services serve endpoints, caller services call endpoints of other
//! services. Built from what the store returns, so it covers any time window; rendered as
//! DOT, Mermaid or JSON. petgraph stays behind this API.

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

use crate::model::{EndpointKey, EndpointStats, Method, PathTemplate};

/// Calls from a caller service to an endpoint of another service over a time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub caller: String,
    pub service: String,
    pub method: Method,
    pub template: PathTemplate,
    pub calls: u64,
    /// Unix seconds.
    pub first_seen: i64,
    /// Unix seconds.
    pub last_seen: i64,
}

/// Who reaches an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposure {
    /// No traced caller service: reached from outside (users, the internet, untraced clients).
    External,
    /// Every request came from another traced service.
    Internal,
    /// Some requests from other services, some from outside.
    Mixed,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GraphNode {
    Service {
        name: String,
    },
    Endpoint {
        service: String,
        method: Method,
        template: PathTemplate,
        requests: u64,
        exposure: Exposure,
    },
}

/// An edge of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GraphEdge {
    /// Service → its endpoint.
    Serves { requests: u64 },
    /// Caller service → an endpoint of another service.
    Calls { calls: u64 },
}

/// Services, endpoints and caller services with request and call counts.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    g: DiGraph<GraphNode, GraphEdge>,
    services: HashMap<String, NodeIndex>,
    endpoints: HashMap<EndpointKey, NodeIndex>,
}

impl Graph {
    /// Builds the graph from an inventory window and the caller edges of the same window.
    /// Edges to endpoints missing from `endpoints` (e.g. filtered out) are skipped.
    pub fn build(endpoints: &[EndpointStats], edges: &[Edge]) -> Graph {
        let mut graph = Graph::default();
        let mut internal: HashMap<NodeIndex, u64> = HashMap::new();
        for e in endpoints {
            let s = graph.service(&e.service);
            let n = graph.g.add_node(GraphNode::Endpoint {
                service: e.service.clone(),
                method: e.method,
                template: e.template.clone(),
                requests: e.requests,
                exposure: Exposure::External,
            });
            graph.g.add_edge(
                s,
                n,
                GraphEdge::Serves {
                    requests: e.requests,
                },
            );
            graph.endpoints.insert(e.key(), n);
        }
        for e in edges {
            let key = EndpointKey {
                service: e.service.clone(),
                method: e.method,
                template: e.template.clone(),
            };
            let Some(&target) = graph.endpoints.get(&key) else {
                continue;
            };
            let caller = graph.service(&e.caller);
            match graph.g.find_edge(caller, target) {
                Some(ix) => {
                    if let GraphEdge::Calls { calls } = &mut graph.g[ix] {
                        *calls += e.calls;
                    }
                }
                None => {
                    graph
                        .g
                        .add_edge(caller, target, GraphEdge::Calls { calls: e.calls });
                }
            }
            *internal.entry(target).or_default() += e.calls;
        }
        for (node, calls) in internal {
            if let GraphNode::Endpoint {
                requests, exposure, ..
            } = &mut graph.g[node]
            {
                *exposure = if calls >= *requests {
                    Exposure::Internal
                } else {
                    Exposure::Mixed
                };
            }
        }
        graph
    }

    fn service(&mut self, name: &str) -> NodeIndex {
        if let Some(&n) = self.services.get(name) {
            return n;
        }
        let n = self.g.add_node(GraphNode::Service {
            name: name.to_string(),
        });
        self.services.insert(name.to_string(), n);
        n
    }

    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.g.edge_count()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &GraphNode> + '_ {
        self.g.node_weights()
    }

    /// Every edge as (from, to, edge).
    pub fn edges(&self) -> impl Iterator<Item = (&GraphNode, &GraphNode, &GraphEdge)> + '_ {
        self.g
            .edge_references()
            .map(|e| (&self.g[e.source()], &self.g[e.target()], e.weight()))
    }

    /// Who reaches the endpoint, if it is in the graph.
    pub fn exposure(&self, key: &EndpointKey) -> Option<Exposure> {
        match self.endpoints.get(key).map(|&n| &self.g[n]) {
            Some(GraphNode::Endpoint { exposure, .. }) => Some(*exposure),
            _ => None,
        }
    }

    /// Services calling this endpoint, with call counts, most calls first.
    pub fn callers_of(&self, key: &EndpointKey) -> Vec<(&str, u64)> {
        let Some(&n) = self.endpoints.get(key) else {
            return Vec::new();
        };
        let mut v: Vec<(&str, u64)> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .filter_map(|e| match (&self.g[e.source()], e.weight()) {
                (GraphNode::Service { name }, GraphEdge::Calls { calls }) => {
                    Some((name.as_str(), *calls))
                }
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    fn label(node: &GraphNode) -> String {
        match node {
            GraphNode::Service { name } => name.clone(),
            GraphNode::Endpoint {
                method, template, ..
            } => format!("{method} {template}"),
        }
    }

    /// Graphviz DOT: services as boxes, endpoints as ellipses (dashed when only other
    /// services reach them), edges labelled with counts.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph shadowscan {\n  rankdir=LR;\n");
        for ix in self.g.node_indices() {
            let node = &self.g[ix];
            let label = dot_escape(&Self::label(node));
            let attrs = match node {
                GraphNode::Service { .. } => "shape=box".to_string(),
                GraphNode::Endpoint { exposure, .. } => match exposure {
                    Exposure::External => "shape=ellipse".to_string(),
                    Exposure::Internal => "shape=ellipse, style=dashed".to_string(),
                    Exposure::Mixed => "shape=ellipse, style=bold".to_string(),
                },
            };
            let _ = writeln!(out, "  n{} [label=\"{label}\", {attrs}];", ix.index());
        }
        for e in self.g.edge_references() {
            let label = match e.weight() {
                GraphEdge::Serves { requests } => format!("serves {requests}"),
                GraphEdge::Calls { calls } => format!("calls {calls}"),
            };
            let _ = writeln!(
                out,
                "  n{} -> n{} [label=\"{label}\"];",
                e.source().index(),
                e.target().index()
            );
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart, for Markdown that renders on code-hosting sites.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for ix in self.g.node_indices() {
            let node = &self.g[ix];
            let label = mermaid_escape(&Self::label(node));
            let _ = match node {
                GraphNode::Service { .. } => writeln!(out, "  n{}[\"{label}\"]", ix.index()),
                GraphNode::Endpoint { .. } => writeln!(out, "  n{}([\"{label}\"])", ix.index()),
            };
        }
        for e in self.g.edge_references() {
            let (arrow, label) = match e.weight() {
                GraphEdge::Serves { requests } => ("-->", format!("serves {requests}")),
                GraphEdge::Calls { calls } => ("-.->", format!("calls {calls}")),
            };
            let _ = writeln!(
                out,
                "  n{} {arrow}|\"{label}\"| n{}",
                e.source().index(),
                e.target().index()
            );
        }
        out
    }

    /// `{"nodes": [...], "edges": [{"from", "to", ...}]}` with node indices as ids.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .g
            .node_indices()
            .map(|ix| {
                let mut v = serde_json::to_value(&self.g[ix]).unwrap_or_default();
                v["id"] = ix.index().into();
                v
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .g
            .edge_references()
            .map(|e| {
                let mut v = serde_json::to_value(e.weight()).unwrap_or_default();
                v["from"] = e.source().index().into();
                v["to"] = e.target().index().into();
                v
            })
            .collect();
        serde_json::json!({ "nodes": nodes, "edges": edges })
    }
}

fn dot_escape(s: &str) -> String {
    crate::untrusted::escape(s)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn mermaid_escape(s: &str) -> String {
    crate::untrusted::escape(s).replace('"', "#quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuthEvidence, StatusCounts, TemplateSource};

    fn ep(service: &str, method: Method, template: &str, requests: u64) -> EndpointStats {
        EndpointStats {
            service: service.into(),
            method,
            template: PathTemplate::parse(template),
            source: TemplateSource::Route,
            requests,
            status: StatusCounts {
                s2xx: requests,
                ..Default::default()
            },
            ok_with_auth: 0,
            ok_without_auth: requests,
            evidence: AuthEvidence::NONE,
            first_seen: 1_700_000_000,
            last_seen: 1_700_000_100,
            examples: vec![],
            callers: vec![],
            user_agents: vec![],
            explanation: None,
        }
    }

    fn edge(caller: &str, service: &str, method: Method, template: &str, calls: u64) -> Edge {
        Edge {
            caller: caller.into(),
            service: service.into(),
            method,
            template: PathTemplate::parse(template),
            calls,
            first_seen: 1_700_000_000,
            last_seen: 1_700_000_100,
        }
    }

    fn key(service: &str, method: Method, template: &str) -> EndpointKey {
        EndpointKey {
            service: service.into(),
            method,
            template: PathTemplate::parse(template),
        }
    }

    fn sample() -> Graph {
        let eps = [
            ep("frontend", Method::Get, "/", 500),
            ep("orders", Method::Get, "/orders/{id}", 40),
            ep("orders", Method::Post, "/orders", 10),
            ep("billing", Method::Post, "/charges", 7),
        ];
        let edges = [
            edge("frontend", "orders", Method::Get, "/orders/{id}", 25),
            edge("frontend", "billing", Method::Post, "/charges", 3),
            edge("orders", "billing", Method::Post, "/charges", 4),
            edge("batch-job", "orders", Method::Post, "/orders", 6),
            // Endpoint not in this window: skipped, not invented.
            edge("frontend", "orders", Method::Delete, "/orders/{id}", 1),
        ];
        Graph::build(&eps, &edges)
    }

    #[test]
    fn exposure_separates_outside_from_service_only_endpoints() {
        let g = sample();
        assert_eq!(
            g.exposure(&key("frontend", Method::Get, "/")),
            Some(Exposure::External)
        );
        assert_eq!(
            g.exposure(&key("orders", Method::Get, "/orders/{id}")),
            Some(Exposure::Mixed)
        );
        assert_eq!(
            g.exposure(&key("billing", Method::Post, "/charges")),
            Some(Exposure::Internal)
        );
        assert_eq!(
            g.exposure(&key("orders", Method::Delete, "/orders/{id}")),
            None
        );
        assert_eq!(
            g.callers_of(&key("billing", Method::Post, "/charges")),
            vec![("orders", 4), ("frontend", 3)]
        );
    }

    #[test]
    fn nodes_and_edges_include_pure_caller_services() {
        let g = sample();
        // 4 services (frontend, orders, billing, batch-job) + 4 endpoints.
        assert_eq!(g.node_count(), 8);
        // 4 serves + 4 calls.
        assert_eq!(g.edge_count(), 8);
        assert!(g
            .nodes()
            .any(|n| matches!(n, GraphNode::Service { name } if name == "batch-job")));
    }

    #[test]
    fn dot_and_mermaid_render_every_node_and_edge() {
        let g = sample();
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph shadowscan {"));
        assert_eq!(dot.matches(" -> ").count(), 8);
        assert!(dot.contains("label=\"POST /charges\", shape=ellipse, style=dashed"));
        assert!(dot.contains("label=\"calls 25\""));
        let mm = g.to_mermaid();
        assert!(mm.starts_with("flowchart LR\n"));
        assert_eq!(mm.matches("-.->").count(), 4);
        assert_eq!(mm.matches("-->").count(), 4);
        assert!(mm.contains("([\"GET /orders/{id}\"])"));
    }

    #[test]
    fn labels_are_escaped() {
        let g = Graph::build(&[ep("we\"ird", Method::Get, "/a\"b", 1)], &[]);
        assert!(g.to_dot().contains("we\\\"ird"));
        assert!(g.to_mermaid().contains("we#quot;ird"));
    }

    #[test]
    fn json_has_ids_and_endpoints() {
        let v = sample().to_json();
        assert_eq!(v["nodes"].as_array().unwrap().len(), 8);
        assert_eq!(v["edges"].as_array().unwrap().len(), 8);
        let internal = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["exposure"] == "internal")
            .unwrap();
        assert_eq!(internal["template"], "/charges");
    }
}
