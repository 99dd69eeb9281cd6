//! The module layers, checked: a module may use only modules of a lower
//! layer (never one above it, never a sibling), so no import cycle can come
//! back. `cargo test` (and so CI) fails on an upward or sideways import.

/// Bottom first. Modules on one line are siblings and may not use each other.
pub const LAYERS: [&[&str]; 10] = [
    &["timefmt", "files", "json", "cli", "entry"],
    &["log"],
    // What was asked: config.json types, validation, the OCI state. No kernel.
    &["spec"],
    // Kernel primitives, taking plain values and spec types.
    &["linux"],
    &["seccomp", "cgroups"],
    &["hooks"],
    // Containers on disk: state, journal, lifecycle.
    &["container"],
    // How a process enters a container: create's parent, init, exec.
    &["spawn"],
    // The library's front door.
    &["runtime"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules `text` names after `crate::` (also inside `crate::{a, b::c}`).
fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.push(name);
            }
        } else {
            out.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                visit(&p, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }

    #[test]
    fn no_upward_or_sideways_imports() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        visit(&src, &mut files);
        let mut wrong = Vec::new();
        for f in files {
            let rel = f.strip_prefix(&src).unwrap();
            let module = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
            if module == "main" || module == "lib" || module == "layers" {
                continue;
            }
            let own = layer_of(&module).unwrap_or_else(|| panic!("module {module} has no layer in LAYERS"));
            let text = std::fs::read_to_string(&f).unwrap();
            // Tests may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for used in imports(code) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l < own => {}
                    _ => wrong.push(format!("{} uses crate::{used}", rel.display())),
                }
            }
        }
        assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
    }

    #[test]
    fn imports_are_found() {
        let t = "use crate::spec::types::Spec;\nuse crate::{hooks, log};\nlet x = crate::linux::sys::kill(1, 2);";
        assert_eq!(imports(t), ["spec", "hooks", "log", "linux"]);
    }
}
