//! `conntime --smoke`: every phase runs for both stacks, no connection fails, the capture
//! pairs every connection, and the pictures it writes are well-formed: each PNG decodes to
//! an image of its size with more than the background in it, each SVG is XML with an
//! `<svg>` root that holds the points or lines drawn.

use std::process::Command;

use ringtcp_runtime::testing::privileged;

#[test]
fn conntime_smoke_run_times_every_connection_and_writes_well_formed_pictures() {
    if !privileged("conntime_smoke_run_times_every_connection_and_writes_well_formed_pictures") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("conntime-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_conntime")).args(["--smoke", "--out"]).arg(&dir).output().expect("run conntime");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "conntime --smoke failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // Every measured run of both stacks: the search steps, the four runs of phase 2 and
    // the storm's two runs each; each line says what was captured.
    let runs: Vec<&str> = text.lines().filter(|l| l.contains(" ok, ")).collect();
    assert!(runs.len() >= 10, "{text}");
    for r in &runs {
        assert!(r.contains(" 0 failed") && r.contains(" 0 not captured"), "{r}");
    }
    assert!(text.contains("| ringtcp |") && text.contains("| kernel |"), "the table:\n{text}");

    for name in ["scatter", "cdf", "p99_windows", "time_wait_memory"] {
        let png = dir.join(format!("{name}.png"));
        let decoder = png::Decoder::new(std::fs::File::open(&png).expect("png written"));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG pixels decode");
        assert!(info.width >= 800 && info.height >= 400, "{name}.png is {}x{}", info.width, info.height);
        let pixels = &buf[..info.buffer_size()];
        let white = pixels.iter().filter(|&&b| b == 255).count();
        assert!(white < pixels.len() * 99 / 100, "{name}.png is blank");

        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).expect("svg written");
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}.svg is not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{name}.svg");
        let marks = doc.descendants().filter(|n| matches!(n.tag_name().name(), "circle" | "polyline" | "path")).count();
        assert!(marks > 10, "{name}.svg draws {marks} marks");
    }
    assert!(dir.join("table.md").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
