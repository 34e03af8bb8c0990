//! Every fuzz target's corpus replays as ordinary tests on stable: the seeds, and every
//! input that ever found a bug (kept as a regression test once fixed).

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 8, "the {target} corpus holds only {} inputs", inputs.len());
    for path in &inputs {
        let data = std::fs::read(path).expect("read corpus input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails; rerun it with `cargo test -p ringtcp-fuzz --test corpus`", path.display());
    }
}

#[test]
fn wire_corpus() {
    replay("wire", ringtcp_fuzz::wire::run);
}

#[test]
fn packet_corpus() {
    replay("packet", ringtcp_fuzz::packet::run);
}

#[test]
fn script_corpus() {
    replay("script", ringtcp_fuzz::script::run);
}

#[test]
fn middlebox_corpus() {
    replay("middlebox", ringtcp_fuzz::middlebox::run);
}

#[test]
fn link_corpus() {
    replay("link", ringtcp_fuzz::link::run);
}

#[test]
fn every_target_has_a_corpus_test() {
    let here = std::fs::read_to_string(file!()).or_else(|_| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus.rs"))).expect("this file");
    for (name, _) in ringtcp_fuzz::TARGETS {
        assert!(here.contains(&format!("replay(\"{name}\"")), "no corpus replay for {name}");
    }
}
