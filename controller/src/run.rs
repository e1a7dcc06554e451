//! The run wiring: build the [`Context`], start the key watcher and the HTTP and metrics
//! servers, then (as leader, with `--leader-elect`) key generation and the controllers, all
//! stopped by one shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt;
use tokio::sync::watch;

use crate::config::Config;
use crate::context::{Context, Identity};
use crate::{VERSION, http, keys, leader, watch as controllers};

/// A client from `--kubeconfig`, `KUBECONFIG`/`~/.kube/config`, or the in-cluster config.
async fn client(config: &Config) -> anyhow::Result<kube::Client> {
    let kc = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not in a cluster")?,
    };
    Ok(kube::Client::try_from(kc)?)
}

/// Bind `addr` as Go's `net.Listen("tcp", addr)` does: `":8080"` (no host) listens on every
/// address, IPv6 and IPv4 alike (one dual-stack socket on `[::]`, so IPv6-only clusters work),
/// falling back to `0.0.0.0` where the kernel has no IPv6; `host:port` binds that address.
async fn bind(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let Some(port) = addr.strip_prefix(':') else {
        return tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"));
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("listening on {addr}: not a port"))?;
    match dual_stack(port) {
        Ok(listener) => Ok(listener),
        Err(e) => {
            tracing::debug!(error = %e, "no IPv6 listener; listening on IPv4 only");
            tokio::net::TcpListener::bind(("0.0.0.0", port))
                .await
                .with_context(|| format!("listening on {addr}"))
        }
    }
}

/// A listener on `[::]:port` that also accepts IPv4 (IPv4-mapped addresses).
fn dual_stack(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    let addr = std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

async fn serve(
    name: &'static str,
    addr: String,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = bind(&addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(server = name, addr = %bound, "server listening");
    // Connection info lets the rate limiter key direct callers by peer address.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .await?;
    Ok(())
}

/// Run the controller until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let client = client(&config).await?;
    let identity = Identity::from_env();
    tracing::info!(version = VERSION, namespace = %identity.namespace, "Starting sealed-secrets controller");
    if !config.ignored_args.is_empty() {
        // Upstream ignores them silently; a `false` after a bool flag is the usual mistake.
        tracing::warn!(
            arguments = ?config.ignored_args,
            "ignoring positional arguments (booleans take their value as --flag=false)"
        );
    }
    for name in &config.ignored_env {
        // As upstream (pflagenv); the value is not logged.
        tracing::warn!(variable = %name, "ignoring an environment variable whose value does not parse");
    }
    let ctx = Arc::new(Context::new(client, config, identity));

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(keys::watcher::run(ctx.clone()).map(|()| Ok(())));
    let state = http::AppState::new(
        ctx.keys.clone(),
        ctx.metrics.clone(),
        ctx.readiness.clone(),
        http::HttpOptions::from_config(&ctx.config),
    );
    tasks.spawn(serve(
        "http",
        ctx.config.listen_addr.clone(),
        http::router(state.clone()),
        shutdown.clone(),
    ));
    tasks.spawn(serve(
        "metrics",
        ctx.config.listen_metrics_addr.clone(),
        http::metrics_router(state),
        shutdown.clone(),
    ));

    let work = leader_then_work(ctx.clone(), shutdown.clone());
    let mut stop = shutdown.clone();
    tokio::select! {
        r = work => r?,
        _ = stop.wait_for(|v| *v) => {}
        Some(r) = tasks.join_next() => {
            r??;
            if !*shutdown.borrow() {
                anyhow::bail!("a controller task stopped unexpectedly");
            }
        }
    }
    // Let the servers finish in-flight requests.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "task ended with an error");
            }
        }
    })
    .await;
    tracing::info!("controller stopped");
    Ok(())
}

/// Key generation and the controllers, while this replica leads. With leader election, losing
/// the lease (another replica took it, or the apiserver was unreachable for longer than the
/// lease) stops both and the replica campaigns again: an apiserver outage does not end the
/// process.
async fn leader_then_work(
    ctx: Arc<Context>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let elector = ctx.config.leader_elect.then(|| {
        leader::LeaderElector::new(
            ctx.client.clone(),
            &ctx.identity.namespace,
            &ctx.config.leader_election_name,
            ctx.identity.holder.clone(),
        )
    });
    loop {
        if let Some(e) = &elector {
            tracing::info!(
                identity = e.identity(),
                "leader election: waiting for the lease"
            );
            e.acquire().await;
            ctx.readiness.set_follower(false);
        }
        // The controllers list and watch while the keys load (a warm start's lists take
        // seconds at thousands of objects); their reconciles wait for `keys_ready`.
        let (keys_ready, keys_ready_rx) = watch::channel(false);
        let controllers = controllers::run(ctx.clone(), shutdown.clone(), keys_ready_rx);
        let renewal = {
            let ctx = ctx.clone();
            async move {
                ctx.keys.wait_loaded().await;
                keys::rotation::ensure_initial_key(&ctx).await?;
                if let Some(newest) = ctx.keys.snapshot().newest() {
                    tracing::info!(certificate = %newest.cert.to_pem(), "active sealing certificate");
                }
                keys_ready.send_replace(true);
                // `keys_ready` lives as long as this future: reconciles never see it closed
                // while the controllers run.
                let _keys_ready = keys_ready;
                keys::rotation::renew(ctx).await
            }
        };
        match &elector {
            Some(e) => {
                tokio::select! {
                    r = controllers => return r,
                    r = renewal => return r,
                    () = e.hold() => {
                        ctx.readiness.set_follower(true);
                        tracing::warn!("leader election: lost the lease; stopped reconciling until it is ours again");
                    }
                }
            }
            None => {
                return tokio::select! {
                    r = controllers => r,
                    r = renewal => r,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connect to `addr` and read what the listener's accept loop writes back.
    async fn round_trip(listener: &tokio::net::TcpListener, addr: std::net::SocketAddr) {
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let mut client = client.unwrap();
        let (mut server, _) = accepted.unwrap();
        server.write_all(b"ok").await.unwrap();
        let mut buf = [0u8; 2];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    }

    #[tokio::test]
    async fn a_bare_port_listens_on_ipv6_and_ipv4() {
        let listener = super::bind(":0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            listener.local_addr().unwrap().is_ipv6(),
            "one dual-stack socket on [::]"
        );
        round_trip(&listener, (std::net::Ipv6Addr::LOCALHOST, port).into()).await;
        round_trip(&listener, (std::net::Ipv4Addr::LOCALHOST, port).into()).await;
    }

    #[tokio::test]
    async fn a_host_and_port_binds_that_address_only() {
        let listener = super::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(
            listener.local_addr().unwrap().ip(),
            std::net::Ipv4Addr::LOCALHOST
        );
        let listener = super::bind("[::1]:0").await.unwrap();
        assert_eq!(
            listener.local_addr().unwrap().ip(),
            std::net::Ipv6Addr::LOCALHOST
        );
        assert!(super::bind(":notaport").await.is_err());
    }
}
