//! A list-then-watch stream with kube-runtime's [`watcher`](kube::runtime::watcher()) events
//! and recovery, whose initial list is parsed **one item at a time as the body arrives**, each
//! item trimmed before the next is read (issue 20).
//!
//! The list is served from the apiserver's watch cache (`resourceVersion=0`, no limit), as
//! client-go's informers list: a quorum read of etcd in pages of 500 made a warm restart at
//! 10,000 SealedSecrets wait 13 s on the apiserver. The watch cache answers such a list whole
//! (it ignores a limit there), and kube-runtime's watcher buffers that answer as one string and
//! parses it into full objects before anything can be trimmed: at 10,000 SealedSecrets next to
//! 20,000 unrelated Secrets the controller peaked at 231 MiB and kept 175 MiB. Here the body goes
//! through a bounded channel to a blocking thread that deserializes the items in sequence and
//! sends each one, trimmed, through a second bounded channel to the stream, which yields it as
//! `InitApply` at once: what is held besides the caller's store is a few items and a few chunks
//! of the body (collecting the list first kept a second copy of every object until its end).
//!
//! The watch part is kube-runtime's state machine: watch from the list's version; `Bookmark`s
//! move the version; `410 Gone` lists again; a watch that ends or goes idle past its timeout is
//! started again from the last version; every error is yielded (the caller's backoff applies)
//! and the same step is retried on the next poll.

use std::fmt::Debug;
use std::io::Read;
use std::marker::PhantomData;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{AsyncBufRead, AsyncBufReadExt, Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{Error, Event};
use kube::{Resource, ResourceExt};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Server-side timeout of one watch request (kube-runtime's default).
const WATCH_TIMEOUT_SECS: u32 = 290;
/// A watch silent for longer than its timeout plus this margin is considered dead.
const IDLE_MARGIN: Duration = Duration::from_secs(15);
/// Body chunks in flight between the connection and the parsing thread.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Parsed items in flight between the parsing thread and the stream.
const ITEMS_IN_FLIGHT: usize = 64;

enum State<K> {
    /// List (again) before watching.
    Empty,
    /// Listing: items are yielded as `InitApply` as they are parsed, then `InitDone`.
    Listing(Listing<K>),
    /// Start a watch from `resource_version`.
    Resume { resource_version: String },
    Watching {
        resource_version: String,
        stream: BoxStream<'static, kube::Result<WatchEvent<K>>>,
    },
}

/// How each object is cut down before it is kept: `trim` drops what nothing reads; objects that
/// `keep` refuses (after trimming) are not cached at all (a list skips them, a watch turns their
/// change into a deletion, so one that stops qualifying leaves the cache).
pub struct Shape<K> {
    pub trim: fn(&mut K),
    pub keep: fn(&K) -> bool,
}

// By hand: derived impls would ask `K: Copy`.
impl<K> Clone for Shape<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Shape<K> {}

/// Objects of `api` (optionally only those matching `labels`) as `watcher::Event`s, each one
/// passed through `shape` (the initial list's items as they are parsed, the watch's as they
/// arrive). Errors are yielded and recovered from on the next poll, as kube-runtime's watcher.
pub fn watch<K>(
    api: Api<K>,
    labels: Option<String>,
    shape: Shape<K>,
) -> impl Stream<Item = Result<Event<K>, Error>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    // The Api and the selector travel with the state: nothing is cloned per event.
    let source = Source { api, labels, shape };
    futures::stream::unfold((source, State::Empty), |(source, mut state)| async move {
        loop {
            let (out, next) = step(&source, state).await;
            state = next;
            if let Some(out) = out {
                return Some((out, (source, state)));
            }
        }
    })
}

/// What one stream lists and watches, and how it shapes the objects.
struct Source<K> {
    api: Api<K>,
    labels: Option<String>,
    shape: Shape<K>,
}

async fn step<K>(source: &Source<K>, state: State<K>) -> (Option<Result<Event<K>, Error>>, State<K>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let Source { api, labels, shape } = source;
    let (labels, shape) = (labels.as_deref(), *shape);
    match state {
        State::Empty => match list(api, labels, shape).await {
            Ok(listing) => (Some(Ok(Event::Init)), State::Listing(listing)),
            Err(e) => {
                tracing::debug!(error = %e, "list failed");
                (Some(Err(e)), State::Empty)
            }
        },
        State::Listing(mut listing) => match listing.items.recv().await {
            Some(Listed::Item(obj)) => (Some(Ok(Event::InitApply(obj))), State::Listing(listing)),
            Some(Listed::Done(meta)) => match meta.resource_version {
                Some(resource_version) if !resource_version.is_empty() => (
                    Some(Ok(Event::InitDone)),
                    State::Resume { resource_version },
                ),
                _ => (Some(Err(Error::NoResourceVersion)), State::Empty),
            },
            // A cut or malformed body, a read error: list again (the caller's backoff applies;
            // the next `Init` makes the caller drop what this list had applied).
            Some(Listed::Failed(e)) => {
                tracing::debug!(error = %e, "list failed");
                (Some(Err(e)), State::Empty)
            }
            None => (
                Some(Err(Error::InitialListFailed(kube::Error::Service(
                    "the list's parsing thread ended without an answer".into(),
                )))),
                State::Empty,
            ),
        },
        State::Resume { resource_version } => {
            let mut wp = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
            if let Some(l) = labels {
                wp = wp.labels(l);
            }
            match api.watch(&wp, &resource_version).await {
                Ok(stream) => (
                    None,
                    State::Watching {
                        resource_version,
                        stream: stream.boxed(),
                    },
                ),
                Err(kube::Error::Api(s)) if s.code == 410 => (
                    Some(Err(Error::WatchStartFailed(kube::Error::Api(s)))),
                    State::Empty,
                ),
                Err(e) => (
                    Some(Err(Error::WatchStartFailed(e))),
                    State::Resume { resource_version },
                ),
            }
        }
        State::Watching {
            resource_version,
            mut stream,
        } => {
            let idle = Duration::from_secs(WATCH_TIMEOUT_SECS.into()) + IDLE_MARGIN;
            // Nothing for that long, not even the server's own timeout: start a new watch.
            let next = tokio::time::timeout(idle, stream.next())
                .await
                .unwrap_or_default();
            match next {
                Some(Ok(WatchEvent::Added(obj) | WatchEvent::Modified(obj))) => {
                    object_event(shape, obj, false, stream)
                }
                Some(Ok(WatchEvent::Deleted(obj))) => object_event(shape, obj, true, stream),
                Some(Ok(WatchEvent::Bookmark(bm))) => (
                    None,
                    State::Watching {
                        resource_version: bm.metadata.resource_version,
                        stream,
                    },
                ),
                Some(Ok(WatchEvent::Error(status))) => {
                    // 410 Gone: the version is older than the watch cache keeps: list again.
                    let next = if status.code == 410 {
                        State::Empty
                    } else {
                        State::Watching {
                            resource_version,
                            stream,
                        }
                    };
                    (Some(Err(Error::WatchError(status))), next)
                }
                Some(Err(e)) => (
                    Some(Err(Error::WatchFailed(e))),
                    State::Watching {
                        resource_version,
                        stream,
                    },
                ),
                None => (None, State::Resume { resource_version }),
            }
        }
    }
}

/// A watched object's event: `Delete` when it was deleted or `shape` no longer keeps it, else
/// `Apply`; its version becomes the one to resume from (none: list again, as kube-runtime).
fn object_event<K: Resource>(
    shape: Shape<K>,
    mut obj: K,
    deleted: bool,
    stream: BoxStream<'static, kube::Result<WatchEvent<K>>>,
) -> (Option<Result<Event<K>, Error>>, State<K>) {
    let Some(resource_version) = obj.resource_version().filter(|rv| !rv.is_empty()) else {
        return (Some(Err(Error::NoResourceVersion)), State::Empty);
    };
    (shape.trim)(&mut obj);
    let event = if deleted || !(shape.keep)(&obj) {
        Event::Delete(obj)
    } else {
        Event::Apply(obj)
    };
    (
        Some(Ok(event)),
        State::Watching {
            resource_version,
            stream,
        },
    )
}

/// What the parsing thread sends: each kept item, then the list's metadata or the error.
enum Listed<K> {
    Item(K),
    Done(ListMeta),
    Failed(Error),
}

/// A list in progress: its parsed items, and the task that feeds the parser the body (aborted
/// when the list is dropped, e.g. at shutdown; the parser then sees the body end and stops).
struct Listing<K> {
    items: tokio::sync::mpsc::Receiver<Listed<K>>,
    _pump: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start the initial list from the watch cache: its items are parsed as the body streams in.
async fn list<K>(api: &Api<K>, labels: Option<&str>, shape: Shape<K>) -> Result<Listing<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + Send + 'static,
{
    let mut lp = ListParams::default().match_any();
    if let Some(l) = labels {
        lp = lp.labels(l);
    }
    let request = kube::core::Request::new(api.resource_url());
    let request = if K::metadata_api() {
        request.list_metadata(&lp)
    } else {
        request.list(&lp)
    }
    .map_err(|e| Error::InitialListFailed(kube::Error::BuildRequest(e)))?;
    let client = api.clone().into_client();
    let body = client
        .request_stream(request)
        .await
        .map_err(Error::InitialListFailed)?;

    let (chunk_tx, chunk_rx) =
        tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    let (item_tx, item_rx) = tokio::sync::mpsc::channel(ITEMS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let answer = parse_list(ChannelReader::new(chunk_rx), shape, |item| {
            item_tx.blocking_send(Listed::Item(item)).is_ok()
        });
        let last = match answer {
            Ok(meta) => Listed::Done(meta),
            Err(e) => Listed::Failed(Error::InitialListFailed(kube::Error::SerdeError(e))),
        };
        let _ = item_tx.blocking_send(last);
    });
    let pump = tokio::spawn(async move {
        let mut body = std::pin::pin!(body);
        loop {
            let chunk = match body.as_mut().fill_buf().await {
                Ok([]) => break,
                Ok(b) => Ok(b.to_vec()),
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if let Ok(c) = &chunk {
                AsyncBufRead::consume(body.as_mut(), c.len());
            }
            // The parser stops reading on a syntax error: its answer is the error to report.
            if chunk_tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(Listing {
        items: item_rx,
        _pump: AbortOnDrop(pump),
    })
}

/// A `Read` over the body chunks the async side sends (blocking: runs on the blocking pool).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    fn new(rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk?;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = self.chunk.get(self.at..).unwrap_or_default().read(buf)?;
        self.at += n;
        Ok(n)
    }
}

/// Parse a `…List` document from `r`: its `metadata` (returned) and its `items`, each passed
/// through `shape` as soon as it is complete and, when kept, handed to `sink` before the next is
/// read (`sink` returns false when nobody takes items any more: the parse stops). Other fields
/// are skipped.
fn parse_list<K, R>(
    r: R,
    shape: Shape<K>,
    mut sink: impl FnMut(K) -> bool,
) -> serde_json::Result<ListMeta>
where
    K: DeserializeOwned,
    R: Read,
{
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, r));
    let meta = ListSeed {
        shape,
        sink: &mut sink,
        k: PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(meta)
}

struct ListSeed<'a, K> {
    shape: Shape<K>,
    sink: &'a mut dyn FnMut(K) -> bool,
    k: PhantomData<K>,
}

impl<'de, K: DeserializeOwned> DeserializeSeed<'de> for ListSeed<'_, K> {
    type Value = ListMeta;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, K: DeserializeOwned> Visitor<'de> for ListSeed<'_, K> {
    type Value = ListMeta;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes list object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meta = ListMeta::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => meta = map.next_value()?,
                "items" => map.next_value_seed(ItemsSeed {
                    shape: self.shape,
                    sink: &mut *self.sink,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(meta)
    }
}

struct ItemsSeed<'a, K> {
    shape: Shape<K>,
    sink: &'a mut dyn FnMut(K) -> bool,
}

impl<'de, K: DeserializeOwned> DeserializeSeed<'de> for ItemsSeed<'_, K> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K: DeserializeOwned> Visitor<'de> for ItemsSeed<'_, K> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list's items (an array or null)")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(mut item) = seq.next_element::<K>()? {
            (self.shape.trim)(&mut item);
            if (self.shape.keep)(&item) && !(self.sink)(item) {
                return Err(serde::de::Error::custom(
                    "the list's items are no longer read",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PartialObjectMeta;

    fn drop_managed_fields(m: &mut PartialObjectMeta<Secret>) {
        m.metadata.managed_fields = None;
    }

    const SHAPE: Shape<PartialObjectMeta<Secret>> = Shape {
        trim: drop_managed_fields,
        keep: |m| m.metadata.name.as_deref() != Some("skipped"),
    };

    /// Feeds `doc` in chunks of `n` bytes through the channel reader, as the async side does.
    fn parse_chunked(
        doc: &[u8],
        n: usize,
    ) -> serde_json::Result<(ListMeta, Vec<PartialObjectMeta<Secret>>)> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let chunks: Vec<Vec<u8>> = doc.chunks(n).map(<[u8]>::to_vec).collect();
        let feeder = std::thread::spawn(move || {
            for c in chunks {
                if tx.blocking_send(Ok(c)).is_err() {
                    break;
                }
            }
        });
        let mut items = Vec::new();
        let out = parse_list(ChannelReader::new(rx), SHAPE, |i| {
            items.push(i);
            true
        });
        feeder.join().unwrap();
        out.map(|meta| (meta, items))
    }

    const LIST: &str = r#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",
        "metadata":{"resourceVersion":"4711","continue":""},
        "items":[
          {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"a","namespace":"n","resourceVersion":"7",
            "managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:k":{}}}}],
            "annotations":{"x":"a \"quoted\" ] } value"}}},
          {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"skipped","namespace":"n","resourceVersion":"8"}},
          {"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"b","namespace":"n","resourceVersion":"9"}}
        ],"extra":{"ignored":[1,2,{"x":null}]}}"#;

    #[test]
    fn items_arrive_trimmed_and_filtered_whatever_the_chunking() {
        for n in [1, 2, 7, 64, LIST.len()] {
            let (meta, items) = parse_chunked(LIST.as_bytes(), n).unwrap();
            assert_eq!(
                meta.resource_version.as_deref(),
                Some("4711"),
                "chunks of {n}"
            );
            let names: Vec<_> = items
                .iter()
                .map(|i| i.metadata.name.clone().unwrap())
                .collect();
            assert_eq!(names, ["a", "b"]);
            assert!(items.iter().all(|i| i.metadata.managed_fields.is_none()));
            assert_eq!(
                items[0].metadata.annotations.as_ref().unwrap()["x"],
                "a \"quoted\" ] } value"
            );
        }
    }

    #[test]
    fn empty_and_null_items_are_an_empty_list() {
        for doc in [
            r#"{"metadata":{"resourceVersion":"3"},"items":[]}"#,
            r#"{"metadata":{"resourceVersion":"3"},"items":null}"#,
            r#"{"metadata":{"resourceVersion":"3"}}"#,
        ] {
            let (meta, items) = parse_chunked(doc.as_bytes(), 5).unwrap();
            assert_eq!(meta.resource_version.as_deref(), Some("3"));
            assert!(items.is_empty(), "{doc}");
        }
    }

    #[test]
    fn a_cut_or_bad_body_is_an_error() {
        let cut = &LIST.as_bytes()[..LIST.len() / 2];
        assert!(parse_chunked(cut, 16).is_err());
        assert!(parse_chunked(br#"{"items":[{"metadata":7}]}"#, 4).is_err());
        assert!(parse_chunked(br#"{"items":[]} trailing"#, 4).is_err());
    }

    #[test]
    fn the_parse_stops_when_items_are_no_longer_taken() {
        let mut taken = 0;
        let r = parse_list(LIST.as_bytes(), SHAPE, |_| {
            taken += 1;
            false
        });
        assert!(r.is_err());
        assert_eq!(taken, 1, "nothing is parsed after the first refusal");
    }

    #[test]
    fn a_read_error_of_the_body_fails_the_parse() {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.try_send(Ok(
            br#"{"metadata":{"resourceVersion":"1"},"items":["#.to_vec()
        ))
        .unwrap();
        tx.try_send(Err(std::io::Error::other("connection reset")))
            .unwrap();
        drop(tx);
        let r = parse_list(ChannelReader::new(rx), SHAPE, |_| true);
        assert!(r.is_err());
    }
}
