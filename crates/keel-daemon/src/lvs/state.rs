//! The state file: the load balancer as the daemon sees it, for `keel lvs`.

use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::LvsError;

/// `t` in Unix seconds.
pub(super) fn unix_time(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Now in Unix seconds.
pub(super) fn unix_now() -> f64 {
    unix_time(SystemTime::now())
}

/// What `keel lvs` reads: the load balancer as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsState {
    pub pid: u32,
    /// `nftables` or `IPVS`.
    pub data_plane: String,
    /// Name of keel's nftables tables (nftables data plane).
    pub nft_table: String,
    /// Unix time of this snapshot.
    pub updated: f64,
    /// The last data-plane error, cleared by the next successful update.
    pub error: Option<String>,
    pub virtual_servers: Vec<VsState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsState {
    /// keepalived's name, `[192.0.2.144]:tcp:80`.
    pub name: String,
    /// The data-plane services it stands for (a group gives several).
    pub services: Vec<keel_lvs::ServiceKey>,
    pub quorum_up: bool,
    pub live_weight: i64,
    pub sorry_server: Option<SorryState>,
    pub real_servers: Vec<RsState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SorryState {
    pub addr: IpAddr,
    pub port: u16,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsState {
    pub name: String,
    pub addr: IpAddr,
    pub port: u16,
    /// All its checkers pass.
    pub alive: bool,
    /// Weight when alive.
    pub weight: u32,
    pub checkers: Vec<CheckState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// `HTTP_GET`, `TCP_CHECK`, ...
    pub kind: String,
    pub up: bool,
    pub last: Option<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub ok: bool,
    pub detail: String,
    /// Unix time the result came in.
    pub at: f64,
    pub elapsed_ms: u64,
}

impl RsState {
    /// The most recent result of any of its checkers.
    pub fn last(&self) -> Option<&CheckResult> {
        self.checkers
            .iter()
            .filter_map(|c| c.last.as_ref())
            .max_by(|a, b| a.at.total_cmp(&b.at))
    }
}

pub(super) fn write_state(path: &Path, state: &LvsState) -> Result<(), LvsError> {
    let io = |source| LvsError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|source| LvsError::StateFormat {
        path: path.to_path_buf(),
        source,
    })?;
    // Readers never see a half-written file; a unique temp name, created
    // with O_EXCL and no symlink followed.
    crate::fsutil::write_atomic(path, text.as_bytes(), crate::fsutil::STATE_MODE).map_err(io)
}

/// Reads the state file the daemon writes.
pub fn read_state(path: &Path) -> Result<LvsState, LvsError> {
    let text = std::fs::read_to_string(path).map_err(|source| LvsError::State {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LvsError::StateFormat {
        path: path.to_path_buf(),
        source,
    })
}
