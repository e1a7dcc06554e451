//! The kubeconfig: which files client-go would load (`--kubeconfig`, else the `$KUBECONFIG` path
//! list, else `~/.kube/config`), loaded and merged for the online modes ([`load`]), with the
//! kubectl override flags applied ([`apply_overrides`]); and the namespace kubectl would use,
//! read without contacting the cluster ([`namespace`]: `-n`, the context's namespace, inside a
//! pod the pod's namespace ([`InCluster`]), else `default`).
//!
//! Both read the files [`paths`] names, so the discovery rules are written once. The parsers
//! differ: [`load`] uses `kube::config::Kubeconfig::read_from`; [`namespace`], which runs on every
//! offline seal, reads only `current-context` and the contexts' namespaces through its own small
//! serde structs. That is not for speed. Measured with the debug build the tests use (dependencies
//! at opt-level 3), one load of a 5.7 KB single-context kubeconfig with certificate and key data
//! took 241 µs here and 115 µs with `read_from` (16.8 KB, three contexts: 568 µs and 227 µs); both
//! are noise next to the RSA work of a seal. It is kept for the offline semantics, which differ
//! from the online loader's: a file that is unreadable is skipped (a missing one named by
//! `--kubeconfig` is an error, as client-go's loading rules), an empty file is an empty
//! config, the first non-empty `current-context` wins, fields it does not read are never
//! validated, and a parse error is printed without a snippet of the file and redacted, since a
//! kubeconfig holds credentials.

use std::path::PathBuf;

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use serde::Deserialize;

use crate::config::KubeFlags;

/// The part of a kubeconfig [`namespace`] reads.
#[derive(Deserialize, Default)]
struct MinimalConfig {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<MinimalNamedContext>>,
}

#[derive(Deserialize)]
struct MinimalNamedContext {
    name: String,
    #[serde(default)]
    context: Option<MinimalContext>,
}

#[derive(Deserialize, Default)]
struct MinimalContext {
    #[serde(default)]
    namespace: Option<String>,
}

/// The kubeconfig files client-go would load: `--kubeconfig`, else `$KUBECONFIG` (a path list),
/// else `~/.kube/config`.
fn paths(flags: &KubeFlags) -> Vec<PathBuf> {
    if let Some(p) = &flags.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(".kube").join("config")])
        .unwrap_or_default()
}

/// The kubeconfig files client-go would load ([`paths`]), read with kube and merged (first file
/// wins), for the online modes. Files of `$KUBECONFIG` and `~/.kube/config` that do not exist are
/// skipped; an explicit `--kubeconfig` must exist. `None` when there is none at all.
pub fn load(flags: &KubeFlags) -> anyhow::Result<Option<Kubeconfig>> {
    let explicit = flags.kubeconfig.is_some();
    let mut merged: Option<Kubeconfig> = None;
    for p in paths(flags) {
        if !explicit && !p.exists() {
            continue;
        }
        let kc = Kubeconfig::read_from(&p)
            .map_err(|e| anyhow::anyhow!("cannot load kubeconfig {}: {e}", p.display()))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc)?,
        });
    }
    Ok(merged)
}

/// The namespace of [`namespace`], looked up the first time it is needed: upstream asks
/// client-go's `Namespace()` only for a Secret without a namespace, so a kubeconfig problem never
/// stops sealing Secrets that carry theirs.
pub struct LazyNamespace<'a> {
    flags: &'a KubeFlags,
    value: std::cell::OnceCell<String>,
}

impl<'a> LazyNamespace<'a> {
    /// Nothing is read yet.
    pub fn new(flags: &'a KubeFlags) -> Self {
        Self {
            flags,
            value: std::cell::OnceCell::new(),
        }
    }

    /// `-n`, when given (no lookup).
    pub fn explicit(&self) -> Option<&str> {
        self.flags.namespace.as_deref()
    }

    /// The namespace ([`namespace`]), looked up once.
    pub fn get(&self) -> anyhow::Result<&str> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        let (ns, _) = namespace(self.flags)?;
        Ok(self.value.get_or_init(|| ns))
    }
}

/// The namespace and whether it was explicit (`-n`), as client-go's `ClientConfig.Namespace()`.
/// An explicit `--kubeconfig` that does not exist is client-go's loading error
/// (`stat <path>: no such file or directory`).
pub fn namespace(flags: &KubeFlags) -> anyhow::Result<(String, bool)> {
    if let Some(ns) = &flags.namespace {
        return Ok((ns.clone(), true));
    }
    if let Some(p) = &flags.kubeconfig
        && std::fs::metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        anyhow::bail!("stat {}: no such file or directory", p.display());
    }
    let mut current: Option<String> = flags.context.clone();
    let mut contexts: Vec<MinimalNamedContext> = Vec::new();
    for path in paths(flags) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // A missing file of $KUBECONFIG or ~/.kube/config is skipped, as client-go does (a
            // missing --kubeconfig was refused above); so is an unreadable one.
            Err(_) => continue,
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut opts = serde_saphyr::Options::default();
        opts.with_snippet = false;
        let kc: MinimalConfig = if text.trim().is_empty() {
            MinimalConfig::default()
        } else {
            serde_saphyr::from_str_with_options(&text, opts).map_err(|e| {
                anyhow::anyhow!(
                    "cannot parse kubeconfig {}: {}",
                    path.display(),
                    common::documents::redact_message(&e.to_string())
                )
            })?
        };
        // First file to set a value wins, as client-go's merge.
        if current.is_none() {
            current = kc.current_context.filter(|c| !c.is_empty());
        }
        contexts.extend(kc.contexts.unwrap_or_default());
    }
    let context_ns = current
        .and_then(|c| contexts.into_iter().find(|nc| nc.name == c))
        .and_then(|nc| nc.context)
        .and_then(|c| c.namespace)
        .filter(|ns| !ns.is_empty());
    // client-go's `DeferredLoadingClientConfig.Namespace()`: a context without a namespace, inside
    // a pod, means the pod's namespace.
    let ns = context_ns
        .or_else(|| InCluster::from_env().namespace())
        .unwrap_or_else(|| "default".to_string());
    Ok((ns, false))
}

/// Where client-go's `inClusterClientConfig` looks.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What client-go's `inClusterClientConfig` reads: `Possible()` (both `KUBERNETES_SERVICE_*`
/// variables and a `token` file) and `Namespace()` (`POD_NAMESPACE`, else the `namespace` file).
/// The directory is a field so that tests can point it elsewhere; the binary always uses
/// [`SERVICE_ACCOUNT_DIR`].
#[derive(Debug, Clone, Default)]
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`.
    pub service_host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub service_port: Option<String>,
    /// `POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// The service-account directory (`token`, `namespace`).
    pub dir: PathBuf,
}

impl InCluster {
    /// The process's environment and [`SERVICE_ACCOUNT_DIR`].
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self {
            service_host: var("KUBERNETES_SERVICE_HOST"),
            service_port: var("KUBERNETES_SERVICE_PORT"),
            pod_namespace: var("POD_NAMESPACE"),
            dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }

    /// `Possible()`: running in a pod with a service-account token.
    pub fn possible(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        set(&self.service_host)
            && set(&self.service_port)
            && std::fs::metadata(self.dir.join("token")).is_ok_and(|m| !m.is_dir())
    }

    /// The pod's namespace when [`Self::possible`]: `POD_NAMESPACE`, else the trimmed
    /// `namespace` file, else `default`; `None` outside a pod.
    pub fn namespace(&self) -> Option<String> {
        if !self.possible() {
            return None;
        }
        if let Some(ns) = self.pod_namespace.clone().filter(|n| !n.is_empty()) {
            return Some(ns);
        }
        let file = std::fs::read(self.dir.join("namespace")).ok();
        let ns = file
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|n| !n.is_empty());
        Some(ns.unwrap_or_else(|| "default".to_string()))
    }
}

const FLAGS_ENTRY: &str = "kubeseal-flags";

fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Apply the kubectl override flags to the entries `kc` will resolve, as client-go's
/// `ConfigOverrides`. Returns the options to load with.
pub fn apply_overrides(kc: &mut Kubeconfig, flags: &KubeFlags) -> KubeConfigOptions {
    let mut ctx_name = flags.context.clone().or_else(|| kc.current_context.clone());
    let ctx_exists = ctx_name
        .as_ref()
        .is_some_and(|n| kc.contexts.iter().any(|c| &c.name == n));
    if !ctx_exists && (flags.server.is_some() || flags.cluster.is_some()) {
        // No usable context: build one from the flags.
        kc.contexts.push(NamedContext {
            name: FLAGS_ENTRY.into(),
            context: Some(Context {
                cluster: flags.cluster.clone().unwrap_or_else(|| FLAGS_ENTRY.into()),
                user: Some(flags.user.clone().unwrap_or_else(|| FLAGS_ENTRY.into())),
                ..Context::default()
            }),
            other: Default::default(),
        });
        ctx_name = Some(FLAGS_ENTRY.into());
    }
    let ctx = ctx_name
        .as_ref()
        .and_then(|n| kc.contexts.iter().find(|c| &c.name == n))
        .and_then(|c| c.context.clone());
    let cluster_name = flags
        .cluster
        .clone()
        .or_else(|| ctx.as_ref().map(|c| c.cluster.clone()))
        .unwrap_or_else(|| FLAGS_ENTRY.into());
    let user_name = flags
        .user
        .clone()
        .or_else(|| ctx.as_ref().and_then(|c| c.user.clone()))
        .unwrap_or_else(|| FLAGS_ENTRY.into());

    let cluster_override = flags.server.is_some()
        || flags.certificate_authority.is_some()
        || flags.insecure_skip_tls_verify
        || flags.tls_server_name.is_some()
        || flags.proxy_url.is_some()
        || flags.disable_compression;
    if cluster_override {
        upsert(
            &mut kc.clusters,
            |c| c.name == cluster_name,
            || NamedCluster {
                name: cluster_name.clone(),
                cluster: Some(Cluster::default()),
                other: Default::default(),
            },
            |entry| {
                let c = entry.cluster.get_or_insert_with(Cluster::default);
                if let Some(s) = &flags.server {
                    c.server = Some(s.clone());
                }
                if let Some(ca) = &flags.certificate_authority {
                    c.certificate_authority = Some(path_str(ca));
                    c.certificate_authority_data = None;
                }
                if flags.insecure_skip_tls_verify {
                    c.insecure_skip_tls_verify = Some(true);
                    c.certificate_authority = None;
                    c.certificate_authority_data = None;
                }
                // client-go: `--tls-server-name`, and `--server` without it, replace the file's
                // `tls-server-name` (a new server usually has another name).
                if flags.tls_server_name.is_some() || flags.server.is_some() {
                    c.tls_server_name = flags.tls_server_name.clone();
                }
                if let Some(p) = &flags.proxy_url {
                    c.proxy_url = Some(p.clone());
                }
                if flags.disable_compression {
                    c.disable_compression = Some(true);
                }
            },
        );
    }
    let user_override = flags.token.is_some()
        || flags.client_certificate.is_some()
        || flags.client_key.is_some()
        || flags.as_user.is_some()
        || flags.as_uid.is_some()
        || !flags.as_group.is_empty();
    if user_override {
        upsert(
            &mut kc.auth_infos,
            |u| u.name == user_name,
            || NamedAuthInfo {
                name: user_name.clone(),
                auth_info: Some(AuthInfo::default()),
                other: Default::default(),
            },
            |entry| {
                let u = entry.auth_info.get_or_insert_with(AuthInfo::default);
                if let Some(t) = &flags.token {
                    u.token = Some(t.clone().into());
                    u.token_file = None;
                    u.exec = None;
                    u.auth_provider = None;
                    u.username = None;
                    u.password = None;
                }
                if let Some(p) = &flags.client_certificate {
                    u.client_certificate = Some(path_str(p));
                    u.client_certificate_data = None;
                }
                if let Some(p) = &flags.client_key {
                    u.client_key = Some(path_str(p));
                    u.client_key_data = None;
                }
                if let Some(a) = &flags.as_user {
                    u.impersonate = Some(a.clone());
                }
                if let Some(uid) = &flags.as_uid {
                    u.impersonate_uid = Some(uid.clone());
                }
                if !flags.as_group.is_empty() {
                    u.impersonate_groups = Some(flags.as_group.clone());
                }
            },
        );
    }
    KubeConfigOptions {
        context: ctx_name,
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
    }
}

/// The `proxy-url` of the cluster `opts` selects in `kc` (after [`apply_overrides`]: `--proxy-url`
/// included), empty values ignored.
pub fn cluster_proxy_url(kc: &Kubeconfig, opts: &KubeConfigOptions) -> Option<String> {
    let cluster = opts.cluster.clone().or_else(|| {
        let ctx = opts.context.as_ref().or(kc.current_context.as_ref())?;
        kc.contexts
            .iter()
            .find(|c| &c.name == ctx)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
    })?;
    kc.clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.proxy_url.clone())
        .filter(|p| !p.is_empty())
}

/// Apply `update` to the first entry of `items` that `is` selects, or to `new()` appended at the
/// end when none does.
fn upsert<T>(
    items: &mut Vec<T>,
    is: impl Fn(&T) -> bool,
    new: impl FnOnce() -> T,
    update: impl FnOnce(&mut T),
) {
    match items.iter_mut().find(|x| is(x)) {
        Some(x) => update(x),
        None => {
            let mut x = new();
            update(&mut x);
            items.push(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa_dir(token: bool, namespace: Option<&str>) -> fixtures::TempDir {
        let d = fixtures::TempDir::new("kubeseal-sa");
        if token {
            std::fs::write(d.path().join("token"), "t").unwrap();
        }
        if let Some(ns) = namespace {
            std::fs::write(d.path().join("namespace"), ns).unwrap();
        }
        d
    }

    fn in_cluster(dir: &std::path::Path, pod_ns: Option<&str>) -> InCluster {
        InCluster {
            service_host: Some("10.96.0.1".into()),
            service_port: Some("443".into()),
            pod_namespace: pod_ns.map(String::from),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn in_cluster_namespace_as_client_go() {
        let d = sa_dir(true, Some(" team-a\n"));
        assert_eq!(
            in_cluster(d.path(), None).namespace().as_deref(),
            Some("team-a")
        );
        // POD_NAMESPACE first.
        assert_eq!(
            in_cluster(d.path(), Some("from-env"))
                .namespace()
                .as_deref(),
            Some("from-env")
        );
        // A token but no namespace file (or an empty one): `default`.
        let bare = sa_dir(true, None);
        assert_eq!(
            in_cluster(bare.path(), None).namespace().as_deref(),
            Some("default")
        );
        let empty = sa_dir(true, Some("  \n"));
        assert_eq!(
            in_cluster(empty.path(), None).namespace().as_deref(),
            Some("default")
        );
        // Not in a pod: no token file, a directory named token, or no service variables.
        let no_token = sa_dir(false, Some("team-a"));
        assert_eq!(in_cluster(no_token.path(), Some("x")).namespace(), None);
        let dir_token = sa_dir(false, Some("team-a"));
        std::fs::create_dir(dir_token.path().join("token")).unwrap();
        assert_eq!(in_cluster(dir_token.path(), None).namespace(), None);
        let mut no_vars = in_cluster(d.path(), None);
        no_vars.service_port = Some(String::new());
        assert_eq!(no_vars.namespace(), None);
    }

    #[test]
    fn overrides_build_a_context_from_flags() {
        let mut kc = Kubeconfig::default();
        let flags = KubeFlags {
            server: Some("https://1.2.3.4:6443".into()),
            token: Some("t".into()),
            insecure_skip_tls_verify: true,
            as_user: Some("alice".into()),
            ..KubeFlags::default()
        };
        let opts = apply_overrides(&mut kc, &flags);
        assert_eq!(opts.context.as_deref(), Some(FLAGS_ENTRY));
        let c = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(c.server.as_deref(), Some("https://1.2.3.4:6443"));
        assert_eq!(c.insecure_skip_tls_verify, Some(true));
        let u = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(u.token.is_some());
        assert_eq!(u.impersonate.as_deref(), Some("alice"));
    }

    #[test]
    fn client_flags_override_the_selected_cluster_and_user() {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: ca, user: ua}\nclusters:\n- name: ca\n  cluster: {server: 'https://a', tls-server-name: from-file, proxy-url: 'http://file-proxy:1'}\nusers:\n- name: ua\n  user: {token: x}\n";
        let cluster = |kc: &Kubeconfig| kc.clusters[0].cluster.clone().unwrap();
        // No flags: the file's values.
        let mut kc = Kubeconfig::from_yaml(yaml).unwrap();
        let opts = apply_overrides(&mut kc, &KubeFlags::default());
        assert_eq!(cluster(&kc).tls_server_name.as_deref(), Some("from-file"));
        assert_eq!(
            cluster_proxy_url(&kc, &opts).as_deref(),
            Some("http://file-proxy:1")
        );
        // The flags win; --as-uid goes on the user.
        let mut kc = Kubeconfig::from_yaml(yaml).unwrap();
        let flags = KubeFlags {
            tls_server_name: Some("flag-name".into()),
            proxy_url: Some("socks5://flag-proxy:1080".into()),
            disable_compression: true,
            as_uid: Some("uid-1".into()),
            ..KubeFlags::default()
        };
        let opts = apply_overrides(&mut kc, &flags);
        let c = cluster(&kc);
        assert_eq!(c.tls_server_name.as_deref(), Some("flag-name"));
        assert_eq!(c.disable_compression, Some(true));
        assert_eq!(
            cluster_proxy_url(&kc, &opts).as_deref(),
            Some("socks5://flag-proxy:1080")
        );
        let u = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(u.impersonate_uid.as_deref(), Some("uid-1"));
        assert!(u.token.is_some(), "the file's token stays");
        // --server alone clears the file's tls-server-name (client-go: a new server usually has
        // another name).
        let mut kc = Kubeconfig::from_yaml(yaml).unwrap();
        let flags = KubeFlags {
            server: Some("https://elsewhere".into()),
            ..KubeFlags::default()
        };
        apply_overrides(&mut kc, &flags);
        assert_eq!(cluster(&kc).tls_server_name, None);
        assert_eq!(cluster(&kc).server.as_deref(), Some("https://elsewhere"));
    }

    #[test]
    fn overrides_patch_the_selected_context() {
        let mut kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: ca, user: ua}\n- name: b\n  context: {cluster: cb, user: ub}\nclusters:\n- name: ca\n  cluster: {server: 'https://a'}\n- name: cb\n  cluster: {server: 'https://b'}\nusers:\n- name: ua\n  user: {token: x}\n- name: ub\n  user: {token: y}\n",
        )
        .unwrap();
        let flags = KubeFlags {
            context: Some("b".into()),
            server: Some("https://override".into()),
            ..KubeFlags::default()
        };
        let opts = apply_overrides(&mut kc, &flags);
        assert_eq!(opts.context.as_deref(), Some("b"));
        let server = |n: &str| {
            kc.clusters
                .iter()
                .find(|c| c.name == n)
                .and_then(|c| c.cluster.as_ref())
                .and_then(|c| c.server.clone())
        };
        assert_eq!(server("ca").as_deref(), Some("https://a"));
        assert_eq!(server("cb").as_deref(), Some("https://override"));
    }
}
