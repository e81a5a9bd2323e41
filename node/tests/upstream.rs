//! The server role: a PoR service backed by a real HTTP server on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use common::{outcome, spawn_network};
use por_core::EdgeParams;
use por_core::protocol::Delivery;
use por_node::Reply;
use por_node::upstream::HttpUpstream;

async fn upstream() -> String {
    let app = axum::Router::new()
        .route(
            "/shout",
            axum::routing::post(|h: HeaderMap, body: String| async move {
                let who = h.get("x-por-requester").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                format!("{} from {who}", body.to_uppercase())
            }),
        )
        .route("/big", axum::routing::post(|| async { "x".repeat(10_000) }))
        .route("/teapot", axum::routing::post(|| async { (axum::http::StatusCode::IM_A_TEAPOT, "short and stout") }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

async fn ask(net: &common::Net, service: &str, max: u64) -> Reply {
    let route = net.route(&[0, 1], &[1], EdgeParams { latency_ms: 10, base_fee: 1, byte_fee: 0 }, 0);
    let (_, mut rx) = net.nodes[0].handle.request(route, service, b"hi".to_vec(), max).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    let Some(Delivery::Response { response, .. }) = seen.last() else { panic!("no response: {seen:?}") };
    Reply::decode(&response.body).unwrap()
}

#[tokio::test]
async fn http_services_over_por() {
    let base = upstream().await;
    let net = spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    let h = &net.nodes[1].handle;
    h.serve("shout", Arc::new(HttpUpstream::new(&format!("{base}/shout")).unwrap())).await.unwrap();
    h.serve("big", Arc::new(HttpUpstream::new(&format!("{base}/big")).unwrap())).await.unwrap();
    h.serve("teapot", Arc::new(HttpUpstream::new(&format!("{base}/teapot")).unwrap())).await.unwrap();
    h.serve("down", Arc::new(HttpUpstream::new("http://127.0.0.1:9/nothing").unwrap())).await.unwrap();

    let r = ask(&net, "shout", 4096).await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8(r.body).unwrap(), format!("HI from {}", net.nodes[0].peer_id));

    let r = ask(&net, "teapot", 4096).await;
    assert_eq!((r.status, r.body.as_slice()), (418, b"short and stout".as_slice()));

    let r = ask(&net, "big", 4096).await;
    assert_eq!(r.status, 502);
    assert!(r.error.unwrap().contains("allowance"));

    let r = ask(&net, "down", 4096).await;
    assert_eq!(r.status, 502);
    assert!(r.error.unwrap().contains("127.0.0.1:9"));
}
