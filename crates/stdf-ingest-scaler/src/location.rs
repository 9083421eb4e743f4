//! Where files come from and go to: `file://` paths and `s3://` buckets, opened as
//! object stores, plus listing a source by explicit names or prefix + glob.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

/// Errors opening or listing a location.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("unsupported URI scheme in {uri:?}: use file:///path or s3://bucket/prefix")]
    Scheme { uri: String },
    #[error("{uri:?} names no bucket: use s3://bucket/prefix")]
    MissingBucket { uri: String },
    #[error("{uri:?} is not an absolute file path: use file:///absolute/path")]
    RelativePath { uri: String },
    #[error("cannot open {uri}: {source}")]
    Open {
        uri: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot list {uri}: {source}")]
    List {
        uri: String,
        #[source]
        source: object_store::Error,
    },
    #[error("invalid file pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

/// A parsed `file://` or `s3://` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local (or mounted) folder.
    File { root: String },
    /// A bucket and a key prefix (no leading or trailing slash).
    S3 { bucket: String, prefix: String },
}

/// S3 connection settings (from a referenced Secret or the standard AWS_* env vars).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow plain-HTTP endpoints (local S3-compatible servers).
    pub allow_http: bool,
}

impl S3Settings {
    /// Settings from a map of the standard variable names (`AWS_ENDPOINT_URL`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), as found in a Secret or the env.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let endpoint = get("AWS_ENDPOINT_URL").or_else(|| get("AWS_ENDPOINT"));
        Self {
            allow_http: get("AWS_ALLOW_HTTP").is_some_and(|v| v == "true")
                || endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
            endpoint,
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
            session_token: get("AWS_SESSION_TOKEN"),
        }
    }

    /// Settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(&std::env::vars().collect())
    }
}

impl Location {
    /// Parse a URI; the error says which form is expected.
    pub fn parse(uri: &str) -> Result<Self, LocationError> {
        if let Some(rest) = uri.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(LocationError::RelativePath { uri: uri.into() });
            }
            return Ok(Self::File {
                root: rest.trim_end_matches('/').to_string(),
            });
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LocationError::MissingBucket { uri: uri.into() });
            }
            return Ok(Self::S3 {
                bucket: bucket.into(),
                prefix: prefix.trim_matches('/').into(),
            });
        }
        Err(LocationError::Scheme { uri: uri.into() })
    }

    /// The key prefix inside the store (empty for `file://`, whose store is rooted at
    /// the folder).
    pub fn prefix(&self) -> Path {
        match self {
            Self::File { .. } => Path::default(),
            Self::S3 { prefix, .. } => Path::from(prefix.as_str()),
        }
    }

    /// The URI of `key` (a store key under [`Self::prefix`]).
    pub fn uri_of(&self, key: &Path) -> String {
        match self {
            Self::File { root } => format!("file://{root}/{key}"),
            Self::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Open the store; a missing local folder is created.
    pub fn open(&self, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, LocationError> {
        match self {
            Self::File { root } => {
                let _ = std::fs::create_dir_all(root);
                let fs = LocalFileSystem::new_with_prefix(root).map_err(|source| {
                    LocationError::Open {
                        uri: format!("file://{root}"),
                        source,
                    }
                })?;
                Ok(Arc::new(fs.with_automatic_cleanup(false)))
            }
            Self::S3 { bucket, .. } => {
                let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
                }
                b = b.with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".into()));
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                if let Some(t) = &s3.session_token {
                    b = b.with_token(t);
                }
                b = b
                    .with_allow_http(s3.allow_http)
                    .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
                let store = b.build().map_err(|source| LocationError::Open {
                    uri: format!("s3://{bucket}"),
                    source,
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// Which files of a source to take.
#[derive(Clone, Debug)]
pub enum Selection {
    /// These names, relative to the source.
    Files(Vec<String>),
    /// Everything under the source whose relative path matches the glob
    /// (`*` within a folder, `**` across folders, `?` one character).
    Pattern(globset::GlobMatcher),
}

impl Selection {
    /// Files named explicitly, or every file matching `pattern` (default `**/*.stdf*`).
    pub fn new(files: &[String], pattern: Option<&str>) -> Result<Self, LocationError> {
        if !files.is_empty() {
            return Ok(Self::Files(files.to_vec()));
        }
        let pattern = pattern.unwrap_or("**/*.stdf*");
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| LocationError::Pattern {
                pattern: pattern.into(),
                message: e.kind().to_string(),
            })?;
        Ok(Self::Pattern(glob.compile_matcher()))
    }
}

/// The store keys of the selected files under `loc`, in name order. Objects under
/// folders whose name starts with `_` or `.` (our own state, temp files) are skipped.
pub async fn list_source(
    store: &dyn ObjectStore,
    loc: &Location,
    sel: &Selection,
) -> Result<Vec<Path>, LocationError> {
    let prefix = loc.prefix();
    let join = |rel: &str| -> Path {
        let mut p = prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    };
    let mut keys: Vec<Path> = match sel {
        Selection::Files(names) => names.iter().map(|n| join(n)).collect(),
        Selection::Pattern(glob) => {
            let metas: Vec<_> = store
                .list(if prefix.as_ref().is_empty() {
                    None
                } else {
                    Some(&prefix)
                })
                .try_collect()
                .await
                .map_err(|source| LocationError::List {
                    uri: loc.uri_of(&prefix),
                    source,
                })?;
            metas
                .into_iter()
                .map(|m| m.location)
                .filter(|p| {
                    let rel: Vec<_> = p
                        .prefix_match(&prefix)
                        .map(|it| it.collect())
                        .unwrap_or_default();
                    let hidden = rel.iter().any(|part| {
                        let s = part.as_ref();
                        s.starts_with('_') || s.starts_with('.')
                    });
                    let rel_str = rel.iter().map(|p| p.as_ref()).collect::<Vec<_>>().join("/");
                    !hidden && glob.is_match(&rel_str)
                })
                .collect()
        }
    };
    keys.sort();
    keys.dedup();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn parses_supported_schemes_with_clear_errors() {
        assert_eq!(
            Location::parse("file:///data/in/").unwrap(),
            Location::File {
                root: "/data/in".into()
            }
        );
        assert_eq!(
            Location::parse("s3://lots/2026/wk47/").unwrap(),
            Location::S3 {
                bucket: "lots".into(),
                prefix: "2026/wk47".into()
            }
        );
        assert!(matches!(
            Location::parse("s3:///x"),
            Err(LocationError::MissingBucket { .. })
        ));
        assert!(matches!(
            Location::parse("gs://b/x"),
            Err(LocationError::Scheme { .. })
        ));
        assert!(matches!(
            Location::parse("file://rel/x"),
            Err(LocationError::RelativePath { .. })
        ));
        let msg = Location::parse("ftp://x").unwrap_err().to_string();
        assert!(msg.contains("file:///path or s3://bucket/prefix"), "{msg}");
    }

    #[test]
    fn s3_settings_from_standard_names() {
        let vars: BTreeMap<String, String> = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let s = S3Settings::from_vars(&vars);
        assert!(s.allow_http, "plain-http endpoint implies allow_http");
        assert_eq!(s.access_key_id.as_deref(), Some("k"));
        assert_eq!(s.region, None);
    }

    #[tokio::test]
    async fn lists_by_glob_skipping_state_folders() {
        let dir = std::env::temp_dir().join(format!("mlfleet-loc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let loc = Location::parse(&format!("file://{}", dir.display())).unwrap();
        let store = loc.open(&S3Settings::default()).unwrap();
        for name in [
            "a.stdf",
            "b/c.stdf.gz",
            "notes.txt",
            "_mlfleet/x.stdf",
            "b/.tmp.stdf",
        ] {
            store
                .put(&Path::from(name), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let sel = Selection::new(&[], None).unwrap();
        let keys = list_source(store.as_ref(), &loc, &sel).await.unwrap();
        let names: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(names, ["a.stdf", "b/c.stdf.gz"]);
        let only_top = Selection::new(&[], Some("*.stdf")).unwrap();
        let keys = list_source(store.as_ref(), &loc, &only_top).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert!(matches!(
            Selection::new(&[], Some("a[")),
            Err(LocationError::Pattern { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
