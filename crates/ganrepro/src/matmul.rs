//! Chooses the library for matrix products before anything trains or computes a run key.
//!
//! In order: `GANREPRO_BLAS=builtin` keeps the pure-Rust `gemm` crate; `GANREPRO_BLAS=<dir>`
//! loads OpenBLAS from that directory (an error if it cannot); otherwise the pinned OpenBLAS in
//! `openblas/` of the explicit data directory (`--data-dir`) if it is there, else in
//! `<workspace>/data/openblas/`, fetched from Debian's packages when missing; then the system's
//! `libopenblas.so.0`, and the `gemm` crate when neither loads. Run keys name the library
//! chosen (`ganrepro_train::blas::identity`), so runs made with one are never served to the
//! other.

use std::path::Path;

use ganrepro_data::openblas::{ensure_openblas, openblas_dir};
use ganrepro_data::DataOptions;
use ganrepro_train::blas;
use tracing::{info, warn};

/// The environment variable that overrides the choice.
pub const BLAS_ENV: &str = "GANREPRO_BLAS";

/// Loads the library for matrix products; returns its description. Fails only when
/// `GANREPRO_BLAS` names a directory that holds no loadable OpenBLAS.
pub fn choose(options: &DataOptions) -> anyhow::Result<String> {
    match std::env::var(BLAS_ENV)
        .ok()
        .filter(|value| !value.is_empty())
    {
        Some(value) if value == "builtin" => {
            info!(library = %blas::identity(), "matrix products: {BLAS_ENV}=builtin");
        }
        Some(dir) => {
            let name = blas::load_openblas(Some(Path::new(&dir)))
                .map_err(|err| anyhow::anyhow!("{BLAS_ENV}={dir}: {err}"))?;
            info!(library = %name, "matrix products: OpenBLAS from {BLAS_ENV}");
        }
        None => {
            let explicit = options.data_dir.as_deref().map(openblas_dir);
            let dir = explicit
                .filter(|dir| dir.exists())
                .unwrap_or_else(|| openblas_dir(&options.workspace_data_dir));
            let pinned = ensure_openblas(&dir, options.allow_package_fallback)
                .and_then(|()| blas::load_openblas(Some(&dir)));
            match pinned.or_else(|pinned_err| {
                blas::load_openblas(None)
                    .map_err(|system_err| format!("{pinned_err}; system: {system_err}"))
            }) {
                Ok(name) => info!(library = %name, "matrix products: OpenBLAS"),
                Err(reason) => warn!(
                    %reason,
                    "matrix products fall back to the gemm crate, 2-4 times slower than \
                     OpenBLAS; install Debian's libopenblas0-pthread or set {BLAS_ENV} to a \
                     directory holding libopenblas.so.0"
                ),
            }
        }
    }
    Ok(blas::identity())
}
