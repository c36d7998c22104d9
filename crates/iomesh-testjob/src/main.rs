//! `iomesh-testjob`: what a renter's job does in iomesh's tests and
//! benchmarks, run by the agent like any job (sandboxed, on the job's
//! loopback), so that the renter's path to it is exercised for real.
//!
//!   iomesh-testjob http PORT        HTTP: / and /echo (method, path, query, headers, body),
//!                                   /bytes?n=N (N bytes), /ws (WebSocket echo)
//!   iomesh-testjob tcp-echo PORT    raw TCP echo, half-close honoured
//!   iomesh-testjob lines N          N numbered lines on stdout, as fast as it can, then exits
//!   iomesh-testjob serve HTTP TCP   both servers at once

use axum::{
    body::Bytes,
    extract::{ws::WebSocketUpgrade, Query, Request},
    response::IntoResponse,
    routing::{any, get},
    Json, Router,
};
use std::{collections::HashMap, io::Write};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = |i: usize| -> u16 {
        args.get(i)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.first().map(String::as_str) {
        Some("http") => http(port(1)).await,
        Some("tcp-echo") => tcp_echo(port(1)).await,
        Some("serve") => {
            let (h, t) = (port(1), port(2));
            tokio::join!(http(h), tcp_echo(t));
        }
        Some("lines") => lines(
            args.get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage()),
        ),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: iomesh-testjob http PORT | tcp-echo PORT | serve HTTP_PORT TCP_PORT | lines N"
    );
    std::process::exit(2)
}

fn lines(count: u64) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    for i in 0..count {
        let _ = writeln!(out, "line {i:09} of {count}");
    }
    let _ = out.flush();
}

async fn http(port: u16) {
    let app = Router::new()
        .route("/", any(echo))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/bytes", get(bytes))
        .route("/ws", get(ws));
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind HTTP");
    println!("http listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serve HTTP");
}

async fn echo(request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Json(serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn bytes(Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    Bytes::from(vec![b'x'; n])
}

async fn ws(upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, axum::extract::ws::Message::Close(_)) {
                break;
            }
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

async fn tcp_echo(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind TCP");
    println!("tcp-echo listening on 127.0.0.1:{port}");
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let (mut from, mut to) = socket.into_split();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match from.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = to.shutdown().await;
        });
    }
}
