//! berth's config types against the oci-spec crate's: a config that
//! oci-spec reads is written back by oci-spec (so it holds exactly the
//! fields oci-spec knows) and read by berth; every field berth's types do
//! not keep is a field berth would ignore without a word. Runs without root.

use std::path::Path;

/// Parts of the spec for other platforms: runc ignores them as well.
const OTHER_PLATFORMS: &[&str] = &["windows", "solaris", "vm", "zos"];

/// The paths (`linux.resources.memory.limit`) berth's `Spec` drops.
/// None when oci-spec refuses the config (the corpus holds hostile ones).
fn dropped_by_berth(config: &str) -> Option<Vec<String>> {
    let oci: oci_spec::runtime::Spec = serde_json::from_str(config).ok()?;
    let known = serde_json::to_string(&oci).expect("oci-spec writes it back");
    let mut dropped = Vec::new();
    let mut de = serde_json::Deserializer::from_str(&known);
    let _: berth::spec::types::Spec =
        serde_ignored::deserialize(&mut de, |path| dropped.push(path.to_string().replace(".?", "")))
            .expect("berth reads it");
    dropped.retain(|p| !OTHER_PLATFORMS.contains(&p.split('.').next().unwrap_or("")));
    Some(dropped)
}

#[test]
fn berth_keeps_every_field_oci_spec_knows() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![dir.join("tests/data/every-field.json")];
    for e in std::fs::read_dir(dir.join("fuzz/corpus")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut compared = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let Some(dropped) = dropped_by_berth(&text) else { continue };
        assert!(dropped.is_empty(), "{}: berth's types drop {dropped:?}", f.display());
        compared.push(f.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(
        compared.iter().any(|f| f == "every-field.json") && compared.iter().any(|f| f == "full.json"),
        "{compared:?}"
    );
}

/// The check itself can fail: a field berth does not know is reported.
#[test]
fn an_unknown_field_is_reported() {
    let dropped = {
        let mut dropped = Vec::new();
        let text = r#"{"ociVersion": "1.2.0", "linux": {"notAField": 1}}"#;
        let mut de = serde_json::Deserializer::from_str(text);
        let _: berth::spec::types::Spec =
            serde_ignored::deserialize(&mut de, |p| dropped.push(p.to_string().replace(".?", ""))).unwrap();
        dropped
    };
    assert_eq!(dropped, ["linux.notAField"]);
}

/// The fixture is worth something only if oci-spec sees what it holds.
#[test]
fn oci_spec_reads_the_whole_fixture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/every-field.json");
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let oci: oci_spec::runtime::Spec = serde_json::from_value(raw.clone()).unwrap();
    let back = serde_json::to_value(&oci).unwrap();
    let mut missing = Vec::new();
    covered(&raw, &back, String::new(), &mut missing);
    assert!(missing.is_empty(), "oci-spec does not know {missing:?}: the fixture tests nothing there");
}

fn covered(want: &serde_json::Value, got: &serde_json::Value, at: String, missing: &mut Vec<String>) {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => covered(v, gv, format!("{at}.{k}"), missing),
                    None => missing.push(format!("{at}.{k}")),
                }
            }
        }
        (serde_json::Value::Array(w), serde_json::Value::Array(g)) => {
            for (i, (v, gv)) in w.iter().zip(g).enumerate() {
                covered(v, gv, format!("{at}[{i}]"), missing);
            }
        }
        _ => {}
    }
}
