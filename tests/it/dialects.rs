//! The client's dialect without a preset: the matchers (`equals`, `prefix` with `json` after
//! it, `regex`, `binary`) and `keepalive`, loaded from probes.yaml and run against the lab over
//! real sockets.

use std::path::Path;

use wsprobe::config::{self, Matcher};
use wsprobe::probe::{Prober, Verdict};

use crate::helpers::{config, spawn_lab};

fn load_error(environment_tail: &str) -> String {
    let yaml =
        format!("environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n{environment_tail}");
    match config::load_str(Path::new("probes.yaml"), &yaml, &|_| None) {
        Ok(_) => panic!("loaded, expected an error:\n{yaml}"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn text_matchers_pass_against_the_lab() {
    let lab = spawn_lab().await;
    let yaml = r#"environments:
  - name: matchers
    url: ws://${LAB}/ws/healthy
    steps:
      - expect: { regex: '"event":\s*"connection_established"' }
      - send: '{"type":"ping","id":7}'
      - expect: { prefix: '{"id":7,' }
      - send: '{"type":"ping"}'
      - expect: { equals: '{"type":"pong"}' }
      - send: hello
      - expect: { prefix: "", json: { /type: echo, /data: hello } }
"#;
    let config = config(yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
}

#[tokio::test]
async fn a_step_that_does_not_match_names_the_matcher() {
    let lab = spawn_lab().await;
    let yaml = r#"environments:
  - name: mismatch
    url: ws://${LAB}/ws/healthy
    steps:
      - expect: {}
      - send: '{"type":"ping"}'
      - expect: { within: 1s, regex: '^\{"type":"pang"' }
"#;
    let config = config(yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::StepFailed, "{}", result.diagnosis);
    assert_eq!(result.failed_step, Some(2));
    assert!(
        result
            .diagnosis
            .contains("matching /^\\{\"type\":\"pang\"/"),
        "{}",
        result.diagnosis
    );
}

#[tokio::test]
async fn binary_matches_a_binary_frame_by_its_leading_bytes() {
    let lab = spawn_lab().await;
    for (binary, verdict) in [
        ("any", Verdict::Ok),
        ("82 00 01", Verdict::Ok),
        ("ff", Verdict::ClosedBeforeReady),
    ] {
        let yaml = format!(
            "environments:\n  - name: binary\n    url: ws://${{LAB}}/ws/binary-welcome\n    steps:\n      - expect: {{ within: 2s, binary: \"{binary}\" }}\n"
        );
        let config = config(&yaml, &lab, &[]);
        let result = Prober::for_config(&config)
            .probe(&config.environments[0])
            .await;
        assert_eq!(result.verdict, verdict, "{binary}: {}", result.diagnosis);
    }
}

#[test]
fn matchers_load_typed_and_refuse_mixtures_bad_regexes_and_bad_hex() {
    let yaml = "environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n    steps:\n      - expect: { prefix: \"42/chat,\", json: { /0: welcome } }\n      - expect: { binary: \"20 02\" }\n      - expect: { regex: \"^CONNECTED\" }\n";
    let config = config::load_str(Path::new("probes.yaml"), yaml, &|_| None).unwrap();
    let matchers: Vec<&Matcher> = config.environments[0]
        .steps
        .iter()
        .map(|step| match step {
            config::Step::Expect { matcher, .. } => matcher,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        matchers[0],
        &Matcher::Prefix {
            prefix: "42/chat,".into(),
            json: vec![("/0".into(), serde_json::json!("welcome"))]
        }
    );
    assert_eq!(matchers[1], &Matcher::Binary(vec![0x20, 0x02]));
    assert_eq!(matchers[2].describe(), "matching /^CONNECTED/");

    let cases = [
        (
            "    steps:\n      - expect: { contains: a, equals: b }\n",
            "probes.yaml:5:40: environments[0].steps[0].expect.equals: one kind of match per mapping: `contains` or `equals`, not both (`json` may go with `prefix`, for what follows the prefix)",
        ),
        (
            "    steps:\n      - expect: { json: { /a: 1 }, regex: x }\n",
            "probes.yaml:5:43: environments[0].steps[0].expect.regex: one kind of match per mapping: `json` or `regex`, not both (`json` may go with `prefix`, for what follows the prefix)",
        ),
        (
            "    steps:\n      - expect: { regex: \"(unclosed\" }\n",
            "probes.yaml:5:26: environments[0].steps[0].expect.regex: invalid regular expression \"(unclosed\": unclosed group",
        ),
        (
            "    steps:\n      - expect: { binary: \"2 0\" }\n",
            "probes.yaml:5:27: environments[0].steps[0].expect.binary: \"2 0\" is neither `any` nor bytes in hex: write the message's first bytes as pairs of hex digits (like \"20 02 00 00\")",
        ),
        (
            "    steps:\n      - expect: { prefix: \"42\", json: { 0: welcome } }\n",
            "probes.yaml:5:41: environments[0].steps[0].expect.json.0: invalid JSON pointer \"0\": it starts with / (like /data/event)",
        ),
    ];
    for (tail, expected) in cases {
        assert_eq!(load_error(tail), expected, "{tail}");
    }
}
