//! `cargo xtask dist`: builds the dashboard (`crates/web`) into `target/dashboard/`, which the
//! `berth` server embeds.
//!
//! Steps: compile the two wasm modules for `wasm32-unknown-unknown` with the `wasm-release`
//! profile in one cargo invocation (in its own target directory, `target/web`, so it never waits
//! on a native build's lock) — `berth-web`, the app every page loads, and `berth-tools`, the
//! editor/diff/placement/scaling module a page imports the first time it needs it
//! (`window.__berthTools()` in `index.html`); run wasm-bindgen on each (the
//! `wasm-bindgen-cli-support` crate, pinned to the exact `wasm-bindgen` version);
//! optimise with `wasm-opt` (`-Oz` for the app, `-O3` for the tools module; with Rust's wasm
//! features, see [`WASM_FEATURES`]) from npm's `binaryen` when one can be had (Debian's binaryen
//! is too old for current Rust output, so it is never used); name every asset by its content hash;
//! write `index.html` from `assets/index.html` (placeholders `{{wasm}}`/`{{js}}` for the app,
//! `{{tools.wasm}}`/`{{tools.js}}` for the tools module, `{{<file>}}` for the other assets); and
//! write `.br` and `.gz` siblings of every file.
//!
//! The two modules share no code at run time, and `berth-web` does not depend on `berth-tools`,
//! so the first load carries only the app. Building them together unifies their dependencies'
//! features; `berth-tools` asks for nothing `berth-web` does not already enable, so the app's
//! wasm is the same as when it is built alone.
//!
//! It does not serve anything, and it does not touch the server: the server picks the folder up
//! when it is built (release) or reads it from disk (debug).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The npm package and version that provides a recent enough `wasm-opt`.
const BINARYEN: &str = "binaryen@132.0.0";
/// Oldest binaryen that reads what current Rust emits (bulk memory, reference types …).
const MIN_BINARYEN: u32 = 117;
/// The features Rust's `wasm32-unknown-unknown` target enables, and no more. Not `-all`: that
/// lets binaryen 132 emit the compact-imports encoding, which Chromium 156 refuses
/// ("Invalid import kind 127, enable with --wasm-compact-imports").
const WASM_FEATURES: &[&str] = &[
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Options of `cargo xtask dist`.
pub struct Options {
    /// Skip wasm-opt even when it is available.
    pub no_opt: bool,
}

type Result<T> = std::result::Result<T, String>;

/// One wasm module of the dashboard.
struct Module {
    /// The crate's library name: the `.wasm` cargo writes, the bindgen output's and the hashed
    /// assets' stem.
    lib: &'static str,
    /// The `index.html` placeholders of its `.wasm` and `.js`.
    wasm_placeholder: &'static str,
    js_placeholder: &'static str,
    /// Loaded on first use, not by the first page load (reported apart).
    lazy: bool,
    /// wasm-opt's optimisation level: `-Oz` (size) for the app, which every page load pays
    /// for; `-O3` (speed) for the tools module, which validates on every keystroke. Measured in
    /// Chromium (BENCHMARKS.md, "Dashboard tools"): `-O3` instead of `-Oz` took `validate` of a
    /// 100-container definition from 10.8 to 6.3 ms for 1 % more bytes; the root manifest's
    /// `opt-level = 3` for `berth-tools` took it to 5.0 ms (and `explain` over 5,000 instances
    /// from 192 to 108 ms) for 5–9 % more brotli bytes.
    opt_level: &'static str,
}

/// The app, then the tools module it imports on first use.
const MODULES: [Module; 2] = [
    Module {
        lib: "berth_web",
        wasm_placeholder: "{{wasm}}",
        js_placeholder: "{{js}}",
        lazy: false,
        opt_level: "-Oz",
    },
    Module {
        lib: "berth_tools",
        wasm_placeholder: "{{tools.wasm}}",
        js_placeholder: "{{tools.js}}",
        lazy: true,
        opt_level: "-O3",
    },
];

/// Runs the whole build; returns the output directory.
pub fn run(root: &Path, opts: &Options) -> Result<PathBuf> {
    let out = root.join("target/dashboard");
    let work = root.join("target/web");
    let started = std::time::Instant::now();

    step("cargo build -p berth-web -p berth-tools (wasm32-unknown-unknown, profile wasm-release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-p",
            "berth-web",
            "-p",
            "berth-tools",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
            "--locked",
        ])
        .env("CARGO_TARGET_DIR", &work)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building berth-web and berth-tools for wasm32-unknown-unknown failed (is the target installed? `rustup target add wasm32-unknown-unknown`)".into());
    }

    let gen_dir = work.join("bindgen");
    let _ = std::fs::remove_dir_all(&gen_dir);
    let wasm_opt = if opts.no_opt {
        step("wasm-opt skipped (--no-opt)");
        None
    } else {
        let found = find_wasm_opt(root);
        if found.is_none() {
            step(&format!(
                "wasm-opt not available (no binaryen ≥ {MIN_BINARYEN} on PATH and npm could not install {BINARYEN}); shipping the unoptimised wasm"
            ));
        }
        found
    };
    let mut modules = Vec::new();
    for module in &MODULES {
        modules.push(bindgen(&work, &gen_dir, module, wasm_opt.as_deref())?);
    }

    step(&format!("writing {}", out.display()));
    let _ = std::fs::remove_dir_all(&out);
    let assets_out = out.join("assets");
    std::fs::create_dir_all(&assets_out).map_err(|e| e.to_string())?;
    let src_assets = root.join("assets");

    let mut names = Vec::new();
    for (module, (wasm_path, js_path)) in MODULES.iter().zip(&modules) {
        let wasm = read(wasm_path)?;
        let wasm_name = hashed(module.lib, "wasm", &wasm);
        write(&assets_out.join(&wasm_name), &wasm)?;
        let js = read(js_path)?;
        let js_name = hashed(module.lib, "js", &js);
        write(&assets_out.join(&js_name), &js)?;
        names.push((module.wasm_placeholder.to_string(), wasm_name));
        names.push((module.js_placeholder.to_string(), js_name));
    }
    for entry in std::fs::read_dir(&src_assets).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if file == "index.html" || !path.is_file() {
            continue;
        }
        let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
        let bytes = read(&path)?;
        let name = hashed(stem, ext, &bytes);
        write(&assets_out.join(&name), &bytes)?;
        names.push((format!("{{{{{file}}}}}"), name));
    }
    let mut index = std::fs::read_to_string(src_assets.join("index.html"))
        .map_err(|e| format!("assets/index.html: {e}"))?;
    for (placeholder, name) in &names {
        index = index.replace(placeholder, name);
    }
    if let Some(start) = index.find("{{") {
        let end = index[start..]
            .find("}}")
            .map_or(index.len(), |e| start + e + 2);
        return Err(format!(
            "assets/index.html names an asset that does not exist: {}",
            &index[start..end]
        ));
    }
    write(&out.join("index.html"), index.as_bytes())?;

    step("compressing (.br quality 11, .gz best)");
    let mut report = String::new();
    let mut total_br = 0;
    let mut lazy_br = 0;
    for path in files(&out)? {
        let raw = read(&path)?;
        let br = brotli_bytes(&raw)?;
        let gz = gzip_bytes(&raw)?;
        let rel = path
            .strip_prefix(&out)
            .unwrap_or(&path)
            .display()
            .to_string();
        let lazy = MODULES.iter().any(|m| {
            m.lazy
                && path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with(&format!("{}-", m.lib)))
        });
        if lazy {
            lazy_br += br.len();
        } else {
            total_br += br.len();
        }
        let _ = writeln!(
            report,
            "    {rel:<48} {:>9} raw {:>9} br {:>9} gz",
            raw.len(),
            br.len(),
            gz.len()
        );
        write(&sibling(&path, "br"), &br)?;
        write(&sibling(&path, "gz"), &gz)?;
    }
    print!("{report}");
    println!(
        "    first load {total_br} bytes brotli; loaded when first used {lazy_br} bytes brotli; built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Runs wasm-bindgen (`--target web`) on one module into `gen_dir/<lib>/` and optimises its wasm;
/// returns the paths of its `.wasm` and `.js`.
fn bindgen(
    work: &Path,
    gen_dir: &Path,
    module: &Module,
    wasm_opt: Option<&Path>,
) -> Result<(PathBuf, PathBuf)> {
    step(&format!("wasm-bindgen --target web ({})", module.lib));
    let wasm_in = work.join(format!(
        "wasm32-unknown-unknown/wasm-release/{}.wasm",
        module.lib
    ));
    let dir = gen_dir.join(module.lib);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm_in)
        .web(true)
        .map_err(|e| e.to_string())?
        .typescript(false)
        .generate(&dir)
        .map_err(|e| format!("wasm-bindgen ({}): {e}", module.lib))?;
    // Only the `.js` and `.wasm` are shipped: JavaScript snippets (`#[wasm_bindgen(inline_js)]`,
    // `module = ...`) would be imported from files this build does not write.
    if dir.join("snippets").exists() {
        return Err(format!(
            "{}'s wasm-bindgen output imports JavaScript snippets ({}), which the dashboard build does not ship; use js-sys/web-sys instead",
            module.lib,
            dir.join("snippets").display()
        ));
    }
    let wasm_path = dir.join(format!("{}_bg.wasm", module.lib));
    let js_path = dir.join(format!("{}.js", module.lib));
    if let Some(bin) = wasm_opt {
        step(&format!(
            "{} {} {} ({})",
            bin.display(),
            module.opt_level,
            WASM_FEATURES.join(" "),
            module.lib
        ));
        let before = size(&wasm_path);
        let tmp = dir.join("opt.wasm");
        let ok = Command::new(bin)
            .args([module.opt_level, "--strip-debug"])
            .args(WASM_FEATURES)
            .arg("-o")
            .arg(&tmp)
            .arg(&wasm_path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            std::fs::rename(&tmp, &wasm_path).map_err(|e| e.to_string())?;
            println!("    {} → {} bytes", before, size(&wasm_path));
        } else {
            println!("    wasm-opt failed; shipping the unoptimised wasm");
        }
    }
    Ok((wasm_path, js_path))
}

fn step(s: &str) {
    println!("==> {s}");
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn write(p: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(p, bytes).map_err(|e| format!("{}: {e}", p.display()))
}

fn sibling(p: &Path, ext: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// `name-<16 hex digits of sha256>.ext`.
fn hashed(stem: &str, ext: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::new();
    for b in &digest[..8] {
        let _ = write!(hex, "{b:02x}");
    }
    if ext.is_empty() {
        format!("{stem}-{hex}")
    } else {
        format!("{stem}-{hex}.{ext}")
    }
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn brotli_bytes(raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut std::io::Cursor::new(raw), &mut out, &params)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn gzip_bytes(raw: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// A `wasm-opt` of binaryen ≥ [`MIN_BINARYEN`]: on PATH, or installed from npm into
/// `target/tools` (npm's `binaryen` ships the binary inside the package).
fn find_wasm_opt(root: &Path) -> Option<PathBuf> {
    let local = root.join("target/tools/node_modules/.bin/wasm-opt");
    for candidate in [PathBuf::from("wasm-opt"), local.clone()] {
        if binaryen_version(&candidate).is_some_and(|v| v >= MIN_BINARYEN) {
            return Some(candidate);
        }
    }
    let installed = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(root.join("target/tools"))
        .arg(BINARYEN)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    (installed && binaryen_version(&local).is_some_and(|v| v >= MIN_BINARYEN)).then_some(local)
}

fn binaryen_version(bin: &Path) -> Option<u32> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "wasm-opt version 132 (version_132)"
    text.split_whitespace()
        .nth(2)
        .and_then(|v| v.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_change_with_content() {
        let a = hashed("berth_web", "wasm", b"a");
        let b = hashed("berth_web", "wasm", b"b");
        assert_ne!(a, b);
        assert!(a.starts_with("berth_web-") && a.ends_with(".wasm"));
        assert_eq!(a.len(), "berth_web-".len() + 16 + ".wasm".len());
    }

    #[test]
    fn compressed_siblings_round_trip() {
        let raw = b"hello hello hello hello".repeat(100);
        let br = brotli_bytes(&raw).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut std::io::Cursor::new(&br), &mut back).unwrap();
        assert_eq!(back, raw);
        let gz = gzip_bytes(&raw).unwrap();
        let mut dec = flate2::read::GzDecoder::new(&gz[..]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut dec, &mut back).unwrap();
        assert_eq!(back, raw);
    }
}
