//! Keys: a key file holds one ed25519 key as JSON, in the shape of an entry of the
//! node's `<data>/dev-keys.json`:
//!
//! ```json
//! {"name": "dev0", "public_key": "<64 hex>", "secret_key": "<64 hex: the 32-byte seed>"}
//! ```
//!
//! Wherever a command takes a key, `devN` means entry N of the dev keys and anything
//! else is a key file's path. Secret keys never leave the client: they sign here.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// One key as stored on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// A label (`dev0`, or the file's stem for generated keys).
    #[serde(default)]
    pub name: String,
    /// The ed25519 public key: the account, lowercase hex.
    pub public_key: String,
    /// The 32-byte secret seed, lowercase hex.
    pub secret_key: String,
}

impl KeyFile {
    /// The entry for `key`.
    pub fn new(name: impl Into<String>, key: &SigningKey) -> KeyFile {
        KeyFile {
            name: name.into(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            secret_key: hex::encode(key.to_bytes()),
        }
    }

    /// The signing key, checked against the stored public key.
    pub fn signing_key(&self) -> Result<SigningKey, String> {
        let seed = api::wire::parse_hex32(&self.secret_key)
            .ok_or("secret_key is not 64 hex characters")?;
        let key = SigningKey::from_bytes(&seed);
        if hex::encode(key.verifying_key().to_bytes()) != self.public_key.to_ascii_lowercase() {
            return Err("public_key does not belong to secret_key".into());
        }
        Ok(key)
    }
}

/// Why a key could not be read, found or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error(
        "cannot read the key file {path}: {source} (create one with `clobchain keygen`, or pass --key devN)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a key file.
    #[error("{path} is not a key file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `devN` names no entry of the dev keys.
    #[error("no dev key dev{index} in {path} ({available} keys there)")]
    NoDevKey {
        /// N.
        index: u64,
        /// The dev keys file.
        path: PathBuf,
        /// How many entries it has.
        available: usize,
    },
    /// `keygen` would overwrite a file.
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// What a `--key` argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// `devN`: entry N of `<data>/dev-keys.json`.
    Dev(u64),
    /// A key file.
    File(PathBuf),
}

impl KeySpec {
    /// `devN` (N decimal) or a path.
    pub fn parse(text: &str) -> KeySpec {
        match text.strip_prefix("dev").map(str::parse::<u64>) {
            Some(Ok(index)) => KeySpec::Dev(index),
            _ => KeySpec::File(PathBuf::from(text)),
        }
    }
}

/// The dev keys file the node writes into its data directory.
pub fn dev_keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-keys.json")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| KeyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads the key `spec` names (`devN` or a key file's path); dev keys are read from
/// `data_dir`.
pub fn load_key(spec: &str, data_dir: &Path) -> Result<SigningKey, KeyError> {
    let (path, entry) = match KeySpec::parse(spec) {
        KeySpec::File(path) => {
            let entry: KeyFile = read_json(&path)?;
            (path, entry)
        }
        KeySpec::Dev(index) => {
            let path = dev_keys_path(data_dir);
            let entries: Vec<KeyFile> = read_json(&path)?;
            let name = format!("dev{index}");
            let found = entries
                .iter()
                .find(|e| e.name == name)
                .or_else(|| usize::try_from(index).ok().and_then(|i| entries.get(i)));
            let Some(entry) = found.cloned() else {
                return Err(KeyError::NoDevKey {
                    index,
                    path,
                    available: entries.len(),
                });
            };
            (path, entry)
        }
    };
    entry
        .signing_key()
        .map_err(|reason| KeyError::Invalid { path, reason })
}

/// The account `spec` names: 64 hex characters are an account itself; anything else is
/// a key (`devN` or a key file) whose public key is the account.
pub fn resolve_account(spec: &str, data_dir: &Path) -> Result<[u8; 32], KeyError> {
    if let Some(account) = api::wire::parse_hex32(spec) {
        return Ok(account);
    }
    Ok(load_key(spec, data_dir)?.verifying_key().to_bytes())
}

/// A new random key from the operating system's generator.
pub fn generate_key() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(KeyError::Random)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `key` to `path` as a [`KeyFile`] readable by its owner only (mode 0600 on
/// Unix). Refuses to replace an existing file unless `force`.
pub fn write_key(path: &Path, key: &SigningKey, force: bool) -> Result<(), KeyError> {
    let name = path
        .file_stem()
        .map_or_else(|| "key".to_string(), |s| s.to_string_lossy().into_owned());
    let text = serde_json::to_string_pretty(&KeyFile::new(name, key))
        .expect("a key file always serializes")
        + "\n";
    let write_error = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            write_error(e)
        }
    })?;
    // `mode` applies only to a file it creates; an overwritten one is tightened here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_error)?;
    }
    file.write_all(text.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs() {
        assert_eq!(KeySpec::parse("dev3"), KeySpec::Dev(3));
        assert_eq!(KeySpec::parse("dev"), KeySpec::File("dev".into()));
        assert_eq!(KeySpec::parse("devx"), KeySpec::File("devx".into()));
        assert_eq!(KeySpec::parse("./k.json"), KeySpec::File("./k.json".into()));
    }

    #[test]
    fn a_written_key_reads_back_private_and_unforced_writes_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("me.json");
        let key = generate_key().unwrap();
        write_key(&path, &key, false).unwrap();
        let spec = path.to_str().unwrap();
        assert_eq!(
            load_key(spec, dir.path()).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert_eq!(
            resolve_account(spec, dir.path()).unwrap(),
            key.verifying_key().to_bytes()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = generate_key().unwrap();
        assert!(matches!(
            write_key(&path, &other, false),
            Err(KeyError::Exists { .. })
        ));
        write_key(&path, &other, true).unwrap();
        assert_eq!(
            load_key(spec, dir.path()).unwrap().to_bytes(),
            other.to_bytes()
        );
    }

    #[test]
    fn dev_keys_are_found_by_name_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<KeyFile> = (0..3)
            .map(|i| KeyFile::new(format!("dev{i}"), &markets::dev::key(i)))
            .collect();
        std::fs::write(
            dev_keys_path(dir.path()),
            serde_json::to_string(&keys).unwrap(),
        )
        .unwrap();
        let two = load_key("dev2", dir.path()).unwrap();
        assert_eq!(two.to_bytes(), markets::dev::key(2).to_bytes());
        assert!(matches!(
            load_key("dev7", dir.path()),
            Err(KeyError::NoDevKey { available: 3, .. })
        ));
        let hex_account = hex::encode([7u8; 32]);
        assert_eq!(
            resolve_account(&hex_account, dir.path()).unwrap(),
            [7u8; 32]
        );

        let mut bad = keys[0].clone();
        bad.public_key = keys[1].public_key.clone();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(matches!(
            load_key(path.to_str().unwrap(), dir.path()),
            Err(KeyError::Invalid { .. })
        ));
    }
}
