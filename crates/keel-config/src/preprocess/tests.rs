use super::syntax::*;

#[test]
fn c_long_parsing() {
    assert_eq!(parse_c_long("0x90"), Some(0x90));
    assert_eq!(parse_c_long(" -1 "), Some(-1));
    assert_eq!(parse_c_long("010"), Some(8));
    assert_eq!(parse_c_long("0"), Some(0));
    assert_eq!(parse_c_long("x"), None);
}

#[test]
fn seq_defaults_follow_keepalived() {
    assert_eq!(parse_seq("i, 3").unwrap(), ("i".into(), 1, 1, 3));
    assert_eq!(parse_seq("i, -3").unwrap(), ("i".into(), -1, -1, -3));
    assert_eq!(parse_seq("i, 5, 2").unwrap(), ("i".into(), 5, -1, 2));
    assert!(parse_seq("i, 1, 0, 3").is_err());
    assert!(parse_seq("i, 1, -1, 3").is_err());
    assert!(parse_seq("1x, 3").is_err());
}

#[test]
fn lst_parsing_fills_missing_values() {
    let (v, s) = parse_lst("{A, B}, {1,2}, {3}").unwrap();
    assert_eq!(v, ["A", "B"]);
    assert_eq!(
        s,
        vec![
            vec!["1".to_string(), "2".into()],
            vec!["3".into(), "".into()]
        ]
    );
    assert!(parse_lst("{A}, {1,2}").is_err());
    assert!(parse_lst("A").is_err());
}

#[test]
fn brace_expansion_nests() {
    let got = expand_braces("{foo/{,cat,dog},bar}", 100).unwrap();
    assert_eq!(got, ["foo/", "foo/cat", "foo/dog", "bar"]);
    assert_eq!(expand_braces("a{b}c", 10).unwrap(), ["a{b}c"]);
    assert!(expand_braces(&"{a,b}".repeat(20), 1000).is_none());
}

#[test]
fn macro_use_syntax() {
    assert!(parse_use("$A.b", 0).is_none());
    assert_eq!(parse_use("$A,", 0).map(|u| u.end), Some(2));
    let u = parse_use("${_RANDOM 1 5}x", 0).unwrap();
    assert_eq!((u.name, u.params.len(), u.end), ("_RANDOM", 2, 14));
    assert!(parse_use("${A }", 0).is_none());
    assert!(parse_use("$1", 0).is_none());
}
