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

/// `":8080"` (Go style) → `0.0.0.0:8080`.
fn listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}

async fn serve(
    name: &'static str,
    addr: String,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
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
    tracing::info!(namespace = %identity.namespace, version = VERSION, "starting sealed-secrets controller");
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
        listen_addr(&ctx.config.listen_addr),
        http::router(state.clone()),
        shutdown.clone(),
    ));
    tasks.spawn(serve(
        "metrics",
        listen_addr(&ctx.config.listen_metrics_addr),
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
        ctx.keys.wait_loaded().await;
        keys::rotation::ensure_initial_key(&ctx).await?;
        if let Some(newest) = ctx.keys.snapshot().newest() {
            tracing::info!(certificate = %newest.cert.to_pem(), "active sealing certificate");
        }

        let renewal = keys::rotation::renew(ctx.clone());
        let controllers = controllers::run(ctx.clone(), shutdown.clone());
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
