//! The man pages and shell completions that the Debian package ships are
//! generated from the command line (`keel generate-assets DIR`, run by
//! scripts/package-deb.sh): every subcommand `keel --help` lists gets a page
//! and is completed, with its flags, and the packaging hook itself stays out
//! of both.

use std::path::{Path, PathBuf};
use std::process::Command;

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

/// A fresh output directory under the target dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("keel-assets-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn generate(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    let out = keel().arg("generate-assets").arg(&dir.0).output().unwrap();
    assert!(
        out.status.success(),
        "keel generate-assets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The subcommands `keel --help` lists, without `help`.
fn public_subcommands() -> Vec<String> {
    let out = keel().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut subs = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                subs.push(name.to_string());
            }
        }
    }
    assert!(subs.len() >= 6, "subcommands parsed from --help: {subs:?}");
    subs
}

/// The page as `man` renders it, so the test reads what users read.
fn render(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "250")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man (Debian's man-db, scripts/install-deps.sh) must be installed");
    assert!(
        out.status.success(),
        "man -l {} failed: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn man_pages_cover_every_subcommand_and_flag() {
    let dir = generate("man");
    let man = dir.0.join("man");
    let top = render(&man.join("keel.8"));
    assert!(top.contains("keel - keepalived-compatible VRRP"), "{top}");
    // keepalived's flags, with the meanings the daemon gives them.
    for flag in [
        "--use-file",
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--config-test",
        "--signum",
        "--release-vips",
        "--version",
    ] {
        assert!(top.contains(flag), "keel.8 lacks {flag}:\n{top}");
    }
    for section in ["FILES", "SIGNALS", "EXIT STATUS", "SEE ALSO"] {
        assert!(top.contains(section), "keel.8 lacks {section}:\n{top}");
    }
    assert!(top.contains("/etc/keepalived/keepalived.conf"));
    let mut pages = std::collections::HashMap::new();
    for sub in public_subcommands() {
        assert!(
            top.contains(&format!("keel-{sub}(8)")),
            "keel.8 does not list {sub}:\n{top}"
        );
        let page = man.join(format!("keel-{sub}.8"));
        assert!(page.exists(), "no man page for keel {sub}");
        let text = render(&page);
        assert!(text.contains(&format!("keel {sub}")), "{text}");
        pages.insert(sub, text);
    }
    for (sub, flag) in [
        ("check", "--strict"),
        ("check", "--offline"),
        ("config", "--canonical"),
        ("realserver", "--vip"),
        ("realserver", "--undo"),
        ("lvs", "--json"),
        ("status", "--json"),
        ("genhash", "--use-ssl"),
    ] {
        let text = &pages[sub];
        assert!(text.contains(flag), "keel-{sub}.8 lacks {flag}:\n{text}");
    }
    // `keel help` is a page's job, and the packaging hook is not for users.
    assert!(!man.join("keel-help.8").exists());
    assert!(!man.join("keel-generate-assets.8").exists());
    assert!(!top.contains("generate-assets"));
    // The lab is in a build with the `lab` feature only; the package is
    // built without it.
    assert_eq!(man.join("keel-lab.8").exists(), cfg!(feature = "lab"));
}

#[test]
fn completions_name_every_subcommand_and_flag() {
    let dir = generate("completions");
    let comp = dir.0.join("completions");
    let bash = std::fs::read_to_string(comp.join("keel")).unwrap();
    let zsh = std::fs::read_to_string(comp.join("_keel")).unwrap();
    let fish = std::fs::read_to_string(comp.join("keel.fish")).unwrap();
    assert!(zsh.starts_with("#compdef keel"), "{zsh}");
    for sub in public_subcommands() {
        assert!(fish.contains(&format!("-a \"{sub}\"")), "fish lacks {sub}");
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
    }
    assert!(fish.contains("-l dont-fork"));
    assert!(zsh.contains("--dont-fork["));
    for text in [&bash, &zsh, &fish] {
        assert!(!text.contains("generate-assets"));
    }
    // bash: what the shell offers after `keel ` and `keel check --`.
    for (words, expect) in [
        ("keel ''", public_subcommands()),
        (
            "keel check --",
            vec!["--strict".to_string(), "--offline".to_string()],
        ),
    ] {
        let script = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _keel keel \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            comp.join("keel").display()
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &script])
            .output()
            .unwrap();
        let offered = String::from_utf8_lossy(&out.stdout);
        let offered: Vec<&str> = offered.lines().collect();
        for e in &expect {
            assert!(
                offered.contains(&e.as_str()),
                "bash offers {offered:?} after `{words}`, not {e}"
            );
        }
    }
}
