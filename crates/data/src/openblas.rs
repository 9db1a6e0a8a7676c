//! The OpenBLAS library that training multiplies matrices with, fetched like a data set: from
//! Debian's packages, unpacked (never installed) into a directory of the workspace, and pinned
//! by SHA-256. `ganrepro_train::blas` loads it from there at run time.
//!
//! Debian's `libopenblas0-pthread` is built for every x86-64 kernel set (`DYNAMIC_ARCH`) and
//! needs the Fortran runtime of `libgfortran5`; `libquadmath0`, which that needs in turn, is
//! part of every Debian system with a C compiler.

use std::path::{Path, PathBuf};

use crate::checksum::verify_sha256;
use crate::fetch;

/// One library file: the package that carries it, where in the package, and its pin.
struct PinnedLibrary {
    package: &'static str,
    member_dir: &'static str,
    file_name: &'static str,
    sha256: &'static str,
}

/// OpenBLAS 0.3.21 (Debian 12's `0.3.21+ds-4`) and its Fortran runtime (GCC 12.2.0), amd64.
const LIBRARIES: [PinnedLibrary; 2] = [
    PinnedLibrary {
        package: "libgfortran5",
        member_dir: "usr/lib/x86_64-linux-gnu",
        file_name: "libgfortran.so.5",
        sha256: "59811b6f7cff9cc414fcca4f5c29deaed251d410a2384602f323cf011a845877",
    },
    PinnedLibrary {
        package: "libopenblas0-pthread",
        member_dir: "usr/lib/x86_64-linux-gnu/openblas-pthread",
        file_name: "libopenblas.so.0",
        sha256: "234bd1960ceeed3c44b275ba10583407ed7b9760d45d33d743420f70c46a0745",
    },
];

/// The directory under a workspace's data directory that holds the fetched libraries.
pub fn openblas_dir(workspace_data_dir: &Path) -> PathBuf {
    workspace_data_dir.join("openblas")
}

/// Makes sure `dir` holds the pinned OpenBLAS and its Fortran runtime, fetching what is missing
/// with `apt-get download` unless `allow_fetch` is false. Files already there must match their
/// pins: a mismatch is an error that names the file, never silently replaced.
pub fn ensure_openblas(dir: &Path, allow_fetch: bool) -> Result<(), String> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("the pinned OpenBLAS is Debian's amd64 build; this is another platform".into());
    }
    for library in &LIBRARIES {
        let path = dir.join(library.file_name);
        if path.exists() {
            verify(library, &path).map_err(|err| err.to_string())?;
            continue;
        }
        if !allow_fetch {
            return Err(format!(
                "{} is missing and fetching is off (--offline)",
                path.display()
            ));
        }
        let wanted = |file_name: &str| file_name == library.file_name;
        let check = |_: &str, path: &Path| verify(library, path);
        fetch::apt_package_files(library.package, library.member_dir, &wanted, dir, &check)
            .map_err(|err| format!("apt-get download {}: {err}", library.package))?;
        if !path.exists() {
            return Err(format!(
                "package {} has no {}/{}",
                library.package, library.member_dir, library.file_name
            ));
        }
    }
    Ok(())
}

fn verify(library: &PinnedLibrary, path: &Path) -> Result<(), crate::DataError> {
    let content = std::fs::read(path).map_err(|err| crate::DataError::io("reading", path, err))?;
    verify_sha256(path, &content, library.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_that_does_not_match_its_pin_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libgfortran.so.5"), b"not the library").unwrap();
        let error = ensure_openblas(dir.path(), false).unwrap_err();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert!(error.contains("libgfortran.so.5"), "{error}");
            assert!(error.contains(LIBRARIES[0].sha256), "{error}");
        }
    }

    #[test]
    fn a_missing_library_without_fetching_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = ensure_openblas(dir.path(), false).unwrap_err();
        assert!(
            error.contains("missing") || error.contains("platform"),
            "{error}"
        );
    }
}
