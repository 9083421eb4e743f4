//! Every invalid parameter definition yields its own typed error.

use hpo::{Param, ParamKind, SearchSpace, SpaceError};

fn err(p: Param) -> SpaceError {
    SearchSpace::new(vec![p]).unwrap_err()
}

#[test]
fn invalid_definitions_are_rejected_with_typed_errors() {
    assert_eq!(SearchSpace::new(vec![]).unwrap_err(), SpaceError::Empty);
    assert_eq!(err(Param::int("", 0, 1)), SpaceError::EmptyName);
    assert!(matches!(
        err(Param::int("a", 5, 5)),
        SpaceError::MinNotBelowMax { .. }
    ));
    assert!(matches!(
        err(Param::double("a", 2.0, 1.0)),
        SpaceError::MinNotBelowMax { .. }
    ));
    assert_eq!(
        err(Param::double("a", f64::NAN, 1.0)),
        SpaceError::NotFinite("a".into())
    );
    assert!(matches!(
        err(Param::log_double("lr", 0.0, 1.0)),
        SpaceError::LogNonPositive { .. }
    ));
    assert!(matches!(
        err(Param::new(
            "n",
            ParamKind::Int {
                min: -1,
                max: 9,
                step: None,
                log: true
            }
        )),
        SpaceError::LogNonPositive { .. }
    ));
    assert!(matches!(
        err(Param::new(
            "n",
            ParamKind::Int {
                min: 0,
                max: 9,
                step: Some(0),
                log: false
            }
        )),
        SpaceError::StepNotPositive { .. }
    ));
    assert!(matches!(
        err(Param::new(
            "x",
            ParamKind::Double {
                min: 0.0,
                max: 1.0,
                step: Some(-0.1),
                log: false
            }
        )),
        SpaceError::StepNotPositive { .. }
    ));
    assert_eq!(
        err(Param::new(
            "x",
            ParamKind::Double {
                min: 0.1,
                max: 1.0,
                step: Some(0.1),
                log: true
            }
        )),
        SpaceError::StepWithLog("x".into())
    );
    assert_eq!(
        err(Param::categorical("c", &[])),
        SpaceError::EmptyList("c".into())
    );
    assert_eq!(
        err(Param::discrete("d", &[])),
        SpaceError::EmptyList("d".into())
    );
    assert!(matches!(
        err(Param::categorical("c", &["a", "a"])),
        SpaceError::DuplicateValue { .. }
    ));
    assert!(matches!(
        err(Param::discrete("d", &[1.0, 2.0, 1.0])),
        SpaceError::DuplicateValue { .. }
    ));
    assert_eq!(
        SearchSpace::new(vec![Param::int("a", 0, 1), Param::double("a", 0.0, 1.0)]).unwrap_err(),
        SpaceError::DuplicateName("a".into())
    );
}

#[test]
fn json_space_definitions_are_validated_on_parse() {
    let ok: SearchSpace = serde_json::from_str(
        r#"[{"name":"lr","type":"double","min":1e-5,"max":0.1,"log":true},
            {"name":"layers","type":"int","min":1,"max":8,"step":1},
            {"name":"opt","type":"categorical","choices":["sgd","adam"]},
            {"name":"batch","type":"discrete","values":[128,32,64]}]"#,
    )
    .unwrap();
    assert_eq!(ok.cardinality(), None);
    // Discrete lists are sorted so their index is ordinal.
    assert_eq!(
        ok.params()[3].kind,
        ParamKind::Discrete {
            values: vec![32.0, 64.0, 128.0]
        }
    );
    let bad = serde_json::from_str::<SearchSpace>(
        r#"[{"name":"lr","type":"double","min":0,"max":1,"log":true}]"#,
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("log scale needs min > 0")
    );
}

#[test]
fn unit_mapping_round_trips_and_covers_every_level() {
    let space = SearchSpace::new(vec![
        Param::new(
            "n",
            ParamKind::Int {
                min: 1,
                max: 100,
                step: None,
                log: true,
            },
        ),
        Param::new(
            "s",
            ParamKind::Int {
                min: 0,
                max: 10,
                step: Some(3),
                log: false,
            },
        ),
        Param::new(
            "d",
            ParamKind::Double {
                min: 0.0,
                max: 1.0,
                step: Some(0.25),
                log: false,
            },
        ),
        Param::discrete("b", &[16.0, 32.0, 64.0]),
    ])
    .unwrap();
    assert_eq!(space.cardinality(), Some(100 * 4 * 5 * 3));
    for p in space.params() {
        let n = p.levels().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..2000 {
            let v = p.from_unit((k as f64 + 0.5) / 2000.0);
            assert!(p.contains(v), "{} {v}", p.name);
            assert_eq!(p.from_unit(p.to_unit(v)), v, "{} round trip", p.name);
            seen.insert(v.to_bits());
        }
        assert_eq!(seen.len() as u64, n, "{} levels", p.name);
    }
}
