//! The `bitnami.com/v1alpha1` `SealedSecret` custom resource, field for field as upstream's Go types.
//!
//! The CRD's schema is written out by hand ([`SealedSecret`]'s `JsonSchema`), mirroring upstream's
//! controller-gen output so that every object upstream's CRD accepts is accepted by ours.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use serde::{Deserialize, Deserializer, Serialize};

/// API group.
pub const GROUP: &str = "bitnami.com";
/// API version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of a SealedSecret.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Kind.
pub const KIND: &str = "SealedSecret";
/// The condition type the controller maintains.
pub const CONDITION_SYNCED: &str = "Synced";

/// The desired state of a SealedSecret: encrypted values and the template of the Secret.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    namespaced,
    status = "SealedSecretStatus",
    schema = "manual",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[0].message"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[0].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct SealedSecretSpec {
    /// Template of the Secret to create: metadata, type, immutable, and Go templates in `data`.
    #[serde(default)]
    pub template: SecretTemplateSpec,
    /// Deprecated v1 format: the whole Secret sealed as one JSON blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ByteString>,
    /// Sealed values, base64. Non-string values are dropped on read, as upstream.
    #[serde(
        rename = "encryptedData",
        default,
        deserialize_with = "lenient_string_map"
    )]
    pub encrypted_data: BTreeMap<String, String>,
}

/// The Secret the controller writes, less its values.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SecretTemplateSpec {
    /// Metadata copied to the Secret (name and namespace are forced to the SealedSecret's).
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// Secret type (e.g. `Opaque`, `kubernetes.io/dockerconfigjson`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Create the Secret immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Go `text/template`s over the decrypted values; each result becomes `data[key]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
}

/// The template's metadata, read and written as an `ObjectMeta` (`Deref`/`DerefMut`) but boxed,
/// and no allocation at all while empty: `ObjectMeta` inline costs ≈ 350 bytes in every
/// SealedSecret, and most of those a controller caches carry none (it drops the spec of an
/// object in sync). Serialized exactly as the `ObjectMeta` it holds (`{}` when empty); `null`
/// reads as empty, as upstream's Go decoding.
#[derive(Clone, Default)]
pub struct TemplateMeta(Option<Box<ObjectMeta>>);

impl TemplateMeta {
    /// The metadata, by value.
    pub fn into_inner(self) -> ObjectMeta {
        self.0.map(|m| *m).unwrap_or_default()
    }
}

impl From<ObjectMeta> for TemplateMeta {
    fn from(m: ObjectMeta) -> Self {
        if m == ObjectMeta::default() {
            Self(None)
        } else {
            Self(Some(Box::new(m)))
        }
    }
}

static EMPTY_META: std::sync::LazyLock<ObjectMeta> = std::sync::LazyLock::new(ObjectMeta::default);

impl std::ops::Deref for TemplateMeta {
    type Target = ObjectMeta;

    fn deref(&self) -> &ObjectMeta {
        self.0.as_deref().unwrap_or(&EMPTY_META)
    }
}

impl std::ops::DerefMut for TemplateMeta {
    fn deref_mut(&mut self) -> &mut ObjectMeta {
        self.0.get_or_insert_with(Default::default)
    }
}

impl PartialEq for TemplateMeta {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for TemplateMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for TemplateMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for TemplateMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<ObjectMeta>::deserialize(d)?
            .unwrap_or_default()
            .into())
    }
}

/// What the controller observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SealedSecretStatus {
    /// Conditions; the controller maintains `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<SealedSecretCondition>,
    /// The generation the status describes.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Extension (not in upstream's CRD): the `resourceVersion` of the Secret as this controller
    /// last wrote or verified it. With `observedGeneration`, lets a restart skip decryption of
    /// objects already in sync.
    #[serde(
        rename = "secretResourceVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_resource_version: Option<String>,
    /// Extension (not in upstream's CRD): fingerprints of the keys that opened the values, most
    /// used first; tried first on the next decryption.
    #[serde(
        rename = "keyFingerprints",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_fingerprints: Vec<String>,
}

/// One condition, as upstream's `SealedSecretCondition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SealedSecretCondition {
    /// Condition type (`Synced`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Last time the condition was probed.
    #[serde(
        rename = "lastUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<Time>,
    /// Last time the status changed.
    #[serde(
        rename = "lastTransitionTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason (upstream never sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message: the unseal error, or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn lenient_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

impl schemars::JsonSchema for SealedSecret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SealedSecret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let schema = openapi_v3_schema();
        schemars::Schema::try_from(schema).unwrap_or_default()
    }
}

/// The `openAPIV3Schema` of the CRD: upstream's (controller-gen v0.15.0 with
/// `generateEmbeddedObjectMeta=true`), descriptions shortened.
pub fn openapi_v3_schema() -> serde_json::Value {
    use serde_json::json;
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "description": "SealedSecret is the K8s representation of a \"sealed Secret\" - a regular k8s Secret that has been sealed (encrypted) using the controller's key.",
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": {
                "description": "SealedSecretSpec is the specification of a SealedSecret.",
                "type": "object",
                "required": ["encryptedData"],
                "properties": {
                    "data": {"description": "Data is deprecated and will be removed eventually. Use per-value EncryptedData instead.", "type": "string", "format": "byte"},
                    "encryptedData": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "x-kubernetes-preserve-unknown-fields": true
                    },
                    "template": {
                        "description": "Template defines the structure of the Secret that will be created from this sealed secret.",
                        "type": "object",
                        "properties": {
                            "data": {
                                "description": "Keys that should be templated using decrypted data.",
                                "type": "object",
                                "nullable": true,
                                "additionalProperties": {"type": "string"}
                            },
                            "immutable": {"description": "Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified).", "type": "boolean"},
                            "metadata": {
                                "description": "Standard object's metadata.",
                                "type": "object",
                                "nullable": true,
                                "x-kubernetes-preserve-unknown-fields": true,
                                "properties": {
                                    "annotations": string_map,
                                    "finalizers": {"type": "array", "items": {"type": "string"}},
                                    "labels": string_map,
                                    "name": {"type": "string"},
                                    "namespace": {"type": "string"}
                                }
                            },
                            "type": {"description": "Used to facilitate programmatic handling of secret data.", "type": "string"}
                        }
                    }
                }
            },
            "status": {
                "description": "SealedSecretStatus is the most recently observed status of the SealedSecret.",
                "type": "object",
                "properties": {
                    "conditions": {
                        "description": "Represents the latest available observations of a sealed secret's current state.",
                        "type": "array",
                        "items": {
                            "description": "SealedSecretCondition describes the state of a sealed secret at a certain point.",
                            "type": "object",
                            "required": ["status", "type"],
                            "properties": {
                                "lastTransitionTime": {"description": "Last time the condition transitioned from one status to another.", "type": "string", "format": "date-time"},
                                "lastUpdateTime": {"description": "The last time this condition was updated.", "type": "string", "format": "date-time"},
                                "message": {"description": "A human readable message indicating details about the transition.", "type": "string"},
                                "reason": {"description": "The reason for the condition's last transition.", "type": "string"},
                                "status": {"description": "Status of the condition for a sealed secret. Valid values for \"Synced\": \"True\", \"False\", or \"Unknown\".", "type": "string"},
                                "type": {"description": "Type of condition for a sealed secret. Valid value: \"Synced\"", "type": "string"}
                            }
                        }
                    },
                    "observedGeneration": {"description": "ObservedGeneration reflects the generation most recently observed by the sealed-secrets controller.", "type": "integer", "format": "int64"},
                    "secretResourceVersion": {"description": "resourceVersion of the Secret as last written or verified by the controller (sealed-secrets-rs extension).", "type": "string"},
                    "keyFingerprints": {"description": "Fingerprints of the sealing keys that opened the values, most used first (sealed-secrets-rs extension).", "type": "array", "items": {"type": "string"}}
                }
            }
        }
    })
}

/// The CRD: upstream's names, schema and printer columns; kept by Helm on upgrade and uninstall
/// (upstream #600: a chart upgrade once deleted every SealedSecret).
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = SealedSecret::crd();
    crd.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("helm.sh/resource-policy".into(), "keep".into());
    crd.spec.names.list_kind = Some("SealedSecretList".into());
    crd
}

/// The CRD as YAML, exactly as committed under `charts/sealed-secrets/crds/`.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let value = serde_json::to_value(crd()).unwrap_or_default();
    serde_saphyr::to_string(&value).map(|s| format!("# Generated by `cargo run -p sealed-secrets-common --example crdgen`; do not edit.\n{s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_upstream_shapes() {
        let json = r#"{"kind":"SealedSecret","apiVersion":"bitnami.com/v1alpha1",
            "metadata":{"name":"s","namespace":"n","creationTimestamp":null},
            "spec":{"template":{"metadata":{"name":"s","namespace":"n","creationTimestamp":null},"type":"Opaque"},
                    "encryptedData":{"foo":"AgA=","bad":42,"nul":null}}}"#;
        let ss: SealedSecret = serde_json::from_str(json).unwrap();
        assert_eq!(ss.spec.encrypted_data.len(), 1);
        assert_eq!(ss.spec.template.type_.as_deref(), Some("Opaque"));
        let yaml = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: s\nspec:\n  template:\n    metadata: null\n  encryptedData: {}\n";
        let ss: SealedSecret = serde_saphyr::from_str(yaml).unwrap();
        assert!(ss.spec.encrypted_data.is_empty());
        let no_template: SealedSecret = serde_json::from_str(
            r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{},"spec":{"encryptedData":{}}}"#,
        )
        .unwrap();
        assert_eq!(no_template.spec.template, SecretTemplateSpec::default());
    }

    #[test]
    fn template_metadata_reads_writes_and_serializes_as_object_meta() {
        // Empty (absent, null, {}, or only nulls): no allocation, serialized as `{}`.
        for t in [
            r#"{}"#,
            r#"{"metadata":null}"#,
            r#"{"metadata":{}}"#,
            r#"{"metadata":{"creationTimestamp":null}}"#,
        ] {
            let spec: SecretTemplateSpec = serde_json::from_str(t).unwrap();
            assert!(spec.metadata.0.is_none(), "{t}");
            assert_eq!(
                serde_json::to_string(&spec).unwrap(),
                r#"{"metadata":{}}"#,
                "{t}"
            );
        }
        let json = r#"{"metadata":{"annotations":{"a":"1"},"labels":{"l":"v"},"name":"s"},"type":"Opaque"}"#;
        let mut spec: SecretTemplateSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.metadata.name.as_deref(), Some("s"));
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
        spec.metadata.labels = None;
        assert_eq!(
            serde_json::to_string(&spec.metadata).unwrap(),
            r#"{"annotations":{"a":"1"},"name":"s"}"#
        );
        let meta = spec.metadata.clone().into_inner();
        assert_eq!(TemplateMeta::from(meta), spec.metadata);
        assert_eq!(
            TemplateMeta::default(),
            TemplateMeta::from(ObjectMeta::default())
        );
        // The point of the box: a SealedSecret is an `ObjectMeta` smaller than with it inline.
        assert_eq!(std::mem::size_of::<TemplateMeta>(), 8);
    }

    #[test]
    fn status_round_trip() {
        let json = r#"{"conditions":[{"type":"Synced","status":"True","lastUpdateTime":"2024-01-02T03:04:05Z","lastTransitionTime":"2024-01-02T03:04:05Z"}],"observedGeneration":2}"#;
        let st: SealedSecretStatus = serde_json::from_str(json).unwrap();
        assert_eq!(st.observed_generation, Some(2));
        assert_eq!(serde_json::to_string(&st).unwrap(), json);
    }

    /// The committed CRD must be what the types generate. Regenerate with
    /// `cargo run -p sealed-secrets-common --example crdgen > charts/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml`.
    #[test]
    fn crd_drift() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let generated = crd_yaml().unwrap();
        assert!(
            committed == generated,
            "{path} drifted from the Rust types; regenerate it with the crdgen example"
        );
    }

    #[test]
    fn crd_shape() {
        let crd = serde_json::to_value(crd()).unwrap();
        assert_eq!(crd["metadata"]["name"], "sealedsecrets.bitnami.com");
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["served"], true);
        assert_eq!(v["storage"], true);
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["listKind"], "SealedSecretList");
        assert_eq!(
            v["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"],
            serde_json::json!(["encryptedData"])
        );
        assert_eq!(v["additionalPrinterColumns"].as_array().unwrap().len(), 3);
    }
}
