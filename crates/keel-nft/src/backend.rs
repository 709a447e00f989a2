//! [`NftBackend`]: the [`keel_lvs::Backend`] running on nftables.

use crate::nft::Nft;
use crate::parse::{existing_objects, merge, parse_listing, with_maps};
use crate::render::{Options, RenderError, capabilities, render, render_clear, render_update};
use keel_lvs::{Backend, BackendError, Capabilities, Change, Table};

/// Installs tables as keel's `inet` / `netdev` nftables tables.
#[derive(Debug, Clone)]
pub struct NftBackend {
    pub nft: Nft,
    pub options: Options,
}

impl NftBackend {
    pub fn new(nft: Nft, options: Options) -> NftBackend {
        NftBackend { nft, options }
    }

    /// `nft -j list table` of one of keel's tables without the entries of
    /// the sets the packet path fills (DR flows, persistence clients: up to
    /// tens of thousands per server, and the table is read at every
    /// resync): the terse listing, with the verdict maps listed one by one.
    ///
    /// The listing takes several `nft` runs; a table deleted or replaced
    /// between them (by an operator, or another keel) is listed again
    /// rather than reported as an error, which would leave the table as
    /// it is until the resync after next.
    fn listing(&self, family: &str) -> Result<Option<String>, BackendError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.listing_once(family)? {
                Listing::Done(json) => return Ok(json),
                Listing::Changed(msg) if attempts >= LISTING_ATTEMPTS => {
                    return Err(BackendError::State(msg));
                }
                Listing::Changed(_) => {}
            }
        }
    }

    fn listing_once(&self, family: &str) -> Result<Listing, BackendError> {
        let table = &self.options.table;
        let Some(terse) = self.nft.list_table_json_terse(family, table)? else {
            return Ok(Listing::Done(None));
        };
        let mut maps = Vec::new();
        for name in existing_objects(&terse)?.maps {
            match self.nft.list_map_json(family, table, &name)? {
                Some(json) => maps.push(json),
                None => {
                    return Ok(Listing::Changed(format!(
                        "map {name} of table {family} {table} vanished while listing it"
                    )));
                }
            }
        }
        with_maps(&terse, &maps).map(|json| Listing::Done(Some(json)))
    }

    /// The script [`Backend::apply`] would run for `desired`.
    pub fn script(&self, desired: &Table) -> Result<String, BackendError> {
        render(desired, &self.options).map_err(render_error)
    }
}

/// One pass of [`NftBackend::listing`].
enum Listing {
    Done(Option<String>),
    /// The table changed between two `nft` runs.
    Changed(String),
}

/// Passes before a table that keeps changing under the listing is an
/// error.
const LISTING_ATTEMPTS: u32 = 3;

fn render_error(e: RenderError) -> BackendError {
    match e {
        RenderError::Unsupported(u) => BackendError::Unsupported(u),
        other => BackendError::Render(other.to_string()),
    }
}

impl Backend for NftBackend {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    /// Replaces keel's tables with `desired` in one transaction; the change
    /// list is not needed (nftables swaps the whole content atomically).
    /// Connections already tracked keep their server (DR rr/wrr flows
    /// unless their server was removed), and persistence entries survive
    /// unless the service's persistence settings changed or the destination
    /// lost its weight.
    fn apply(&mut self, desired: &Table, _changes: &[Change]) -> Result<(), BackendError> {
        let existing = |family: &str| -> Result<_, BackendError> {
            // Terse: only the names matter, not the (possibly many)
            // entries of the sets the packet path fills.
            match self
                .nft
                .list_table_json_terse(family, &self.options.table)?
            {
                Some(json) => Ok(Some(existing_objects(&json)?)),
                None => Ok(None),
            }
        };
        let inet = existing("inet")?;
        let netdev = existing("netdev")?;
        let script = render_update(desired, &self.options, inet.as_ref(), netdev.as_ref())
            .map_err(render_error)?;
        self.nft.run_script(&script)
    }

    fn read(&self) -> Result<Table, BackendError> {
        let mut tables = Vec::new();
        for family in ["inet", "netdev"] {
            if let Some(json) = self.listing(family)? {
                tables.push(parse_listing(&json)?);
            }
        }
        Ok(merge(tables))
    }

    fn clear(&mut self) -> Result<(), BackendError> {
        let script = render_clear(&self.options.table).map_err(render_error)?;
        self.nft.run_script(&script)
    }
}
