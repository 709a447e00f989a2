//! keepalived.conf file mechanics as described in keepalived.conf(5):
//! comments, quoting, blocks, include, macros, conditionals, ~SEQ/~LST.

use keel_config::ast::Node;
use keel_config::{ConfigError, MemSource, Parsed, PreprocessOptions, load_file, load_str};
use std::path::Path;

/// One line per statement, children indented, `{}` marking a block.
fn render(nodes: &[Node]) -> String {
    fn go(nodes: &[Node], depth: usize, out: &mut String) {
        for n in nodes {
            out.push_str(&"  ".repeat(depth));
            out.push_str(&n.keyword.text);
            for a in &n.args {
                out.push(' ');
                out.push_str(&a.text);
            }
            if let Some(b) = &n.block {
                out.push_str(" {\n");
                go(b, depth + 1, out);
                out.push_str(&"  ".repeat(depth));
                out.push('}');
            }
            out.push('\n');
        }
    }
    let mut out = String::new();
    go(nodes, 0, &mut out);
    out
}

fn opts(id: &str) -> PreprocessOptions {
    PreprocessOptions {
        config_id: id.to_string(),
        ..Default::default()
    }
}

fn parse(text: &str) -> Parsed {
    load_str(
        text,
        Path::new("/etc/keepalived/keepalived.conf"),
        &MemSource::new(),
        &opts("main"),
    )
    .unwrap()
}

fn parse_err(text: &str) -> ConfigError {
    load_str(
        text,
        Path::new("/etc/keepalived/keepalived.conf"),
        &MemSource::new(),
        &opts("main"),
    )
    .unwrap_err()
}

fn r(text: &str) -> String {
    render(&parse(text).nodes)
}

// ---------- comments, quoting, blocks ----------

#[test]
fn comments_hash_and_bang_anywhere_but_not_in_quotes() {
    let got = r(
        "# full line\n! also\nrouter_id r1 # trailing\nsmtp_helo_name \"a#b!c\" ! x\n  ! indented\n",
    );
    assert_eq!(got, "router_id r1\nsmtp_helo_name a#b!c\n");
}

#[test]
fn escaped_comment_characters_are_literal() {
    assert_eq!(
        r("notification_email_from a\\#b\\!c\n"),
        "notification_email_from a#b!c\n"
    );
}

#[test]
fn quoted_strings_keep_spaces_and_process_escapes() {
    let p = parse("notify_master \"/bin/n.sh  master\" root\nx \"a\\tb\\\\c\\\"d\\x41\\101\\n\"\n");
    let n = &p.nodes;
    assert_eq!(n[0].args[0].text, "/bin/n.sh  master");
    assert!(n[0].args[0].quoted);
    assert_eq!(n[0].args[1].text, "root");
    assert!(!n[0].args[1].quoted);
    assert_eq!(n[1].args[0].text, "a\tb\\c\"dAA\n");
}

#[test]
fn quoted_braces_do_not_open_blocks() {
    let p = parse("script \"x { y }\"\n");
    assert_eq!(p.nodes.len(), 1);
    assert_eq!(p.nodes[0].args[0].text, "x { y }");
    assert!(p.nodes[0].block.is_none());
}

#[test]
fn quotes_join_with_adjacent_text_like_the_shell() {
    // keepalived.conf(5), "Quoted strings".
    let p = parse("k abcd\" efg h jkl \"mnop\nk abcd \"efg h jkl\" mnop\n");
    assert_eq!(p.nodes[0].args.len(), 1);
    assert_eq!(p.nodes[0].args[0].text, "abcd efg h jkl mnop");
    let three: Vec<&str> = p.nodes[1].args.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(three, ["abcd", "efg h jkl", "mnop"]);
}

#[test]
fn single_quotes_are_kept_for_script_splitting() {
    let p = parse("notify \"/bin/x ' a b ' c\"\n");
    assert_eq!(p.nodes[0].args[0].text, "/bin/x ' a b ' c");
}

#[test]
fn unterminated_quote_is_an_error_with_position() {
    let e = parse_err("a\nrouter_id \"abc\n");
    assert_eq!(
        e.to_string(),
        "/etc/keepalived/keepalived.conf:2:11: unterminated quoted string"
    );
}

#[test]
fn one_line_blocks_without_spaces() {
    let got =
        r("vrrp_instance VI_1{state MASTER}\nglobal_defs {router_id a}vrrp_script s{script x}\n");
    assert_eq!(
        got,
        "vrrp_instance VI_1 {\n  state MASTER\n}\nglobal_defs {\n  router_id a\n}\nvrrp_script s {\n  script x\n}\n"
    );
}

#[test]
fn nested_blocks_and_brace_on_next_line() {
    let got = r(
        "vrrp_instance VI_1\n{\n  authentication {\n auth_type PASS\n }\n  virtual_ipaddress { 192.0.2.1/24 dev eth0\n192.0.2.2 }\n}\n",
    );
    assert_eq!(
        got,
        "vrrp_instance VI_1 {\n  authentication {\n    auth_type PASS\n  }\n  virtual_ipaddress {\n    192.0.2.1/24 dev eth0\n    192.0.2.2\n  }\n}\n"
    );
}

#[test]
fn bool_words_stay_text() {
    let p = parse("use_symlink_paths yes\nsmtp_alert off\n");
    assert_eq!(p.nodes[0].args[0].text, "yes");
    assert_eq!(p.nodes[1].args[0].text, "off");
}

#[test]
fn unclosed_block_names_the_opening_statement_line() {
    let e = parse_err(
        "global_defs {\n router_id a\n}\nvrrp_instance VI_1 {\n  state MASTER\n  authentication {\n  }\n",
    );
    assert!(
        e.to_string()
            .starts_with("/etc/keepalived/keepalived.conf:4:1: 'vrrp_instance'"),
        "{e}"
    );
}

#[test]
fn stray_close_brace_is_an_error() {
    let e = parse_err("global_defs {\n}\n}\n");
    assert_eq!(e.span().map(|s| (s.line, s.col)), Some((3, 1)));
    assert!(e.to_string().contains("unexpected '}'"), "{e}");
}

#[test]
fn too_deep_blocks_are_refused() {
    let text = "a {\n".repeat(500) + &"}\n".repeat(500);
    let e = parse_err(&text);
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

// ---------- include ----------

fn tree() -> MemSource {
    MemSource::new()
        .with(
            "/etc/keepalived/keepalived.conf",
            "global_defs {\n  include defs/*.conf\n}\ninclude conf.d/{b,a}.conf\n",
        )
        .with("/etc/keepalived/defs/2.conf", "router_id two\n")
        .with("/etc/keepalived/defs/1.conf", "router_id one\n")
        .with(
            "/etc/keepalived/conf.d/a.conf",
            "include ../inc/x.conf\nvrrp_instance A {\n}\n",
        )
        .with(
            "/etc/keepalived/conf.d/b.conf",
            "vrrp_instance B {\n include inner.conf\n}\n",
        )
        .with("/etc/keepalived/conf.d/inner.conf", "state BACKUP\n")
        .with("/etc/keepalived/inc/x.conf", "vrrp_script X {\n}\n")
}

#[test]
fn nested_includes_with_globs_relative_to_the_including_file() {
    let src = tree();
    let p = load_file(
        Path::new("/etc/keepalived/keepalived.conf"),
        &src,
        &opts("main"),
    )
    .unwrap();
    assert_eq!(
        render(&p.nodes),
        "global_defs {\n  router_id one\n  router_id two\n}\nvrrp_instance B {\n  state BACKUP\n}\nvrrp_script X {\n}\nvrrp_instance A {\n}\n"
    );
    let files: Vec<String> = p.files.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(files[0], "/etc/keepalived/keepalived.conf");
    assert_eq!(files.len(), 7);
    assert!(files.contains(&"/etc/keepalived/inc/x.conf".to_string()));
}

#[test]
fn spans_point_into_the_included_file() {
    let p = load_file(
        Path::new("/etc/keepalived/keepalived.conf"),
        &tree(),
        &opts("main"),
    )
    .unwrap();
    let b = &p.nodes[1];
    assert_eq!(b.span().to_string(), "/etc/keepalived/conf.d/b.conf:1:1");
    assert_eq!(
        b.children()[0].args[0].span.to_string(),
        "/etc/keepalived/conf.d/inner.conf:1:7"
    );
}

#[test]
fn include_loop_is_detected_and_names_the_chain() {
    let src = MemSource::new()
        .with("/k/main.conf", "include a.conf\n")
        .with("/k/a.conf", "x 1\ninclude sub/b.conf\n")
        .with("/k/sub/b.conf", "include ../a.conf\n");
    let e = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap_err();
    assert!(matches!(e, ConfigError::IncludeLoop { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("/k/sub/b.conf:1:1: 'include': include loop"),
        "{msg}"
    );
    assert!(
        msg.contains("/k/a.conf:2 -> /k/sub/b.conf:1 -> /k/a.conf"),
        "{msg}"
    );
}

#[test]
fn self_include_through_a_glob_is_a_loop() {
    let src = MemSource::new().with("/k/main.conf", "include *.conf\n");
    let e = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap_err();
    assert!(matches!(e, ConfigError::IncludeLoop { .. }), "{e:?}");
}

#[test]
fn missing_include_names_file_and_line() {
    let src = MemSource::new().with("/k/main.conf", "global_defs {\n}\n  include nothere.conf\n");
    let e = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap_err();
    assert!(matches!(e, ConfigError::MissingInclude { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "/k/main.conf:3:3: 'include': no file matches 'nothere.conf'"
    );
}

#[test]
fn glob_matching_nothing_only_warns_unless_includew() {
    let src = MemSource::new().with("/k/main.conf", "include conf.d/*.conf\nx 1\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    assert_eq!(render(&p.nodes), "x 1\n");
    assert_eq!(p.diagnostics.warnings().count(), 1);
    assert!(
        p.diagnostics.items[0]
            .to_string()
            .contains("matches no file")
    );

    let src = MemSource::new().with("/k/main.conf", "includew conf.d/*.conf\n");
    let e = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap_err();
    assert!(matches!(e, ConfigError::MissingInclude { .. }), "{e:?}");
}

#[test]
fn include_inside_a_one_line_block() {
    let src = MemSource::new()
        .with("/k/main.conf", "vrrp_instance V { include st.conf }\n")
        .with("/k/st.conf", "state MASTER\npriority 100\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    assert_eq!(
        render(&p.nodes),
        "vrrp_instance V {\n  state MASTER\n  priority 100\n}\n"
    );
}

#[test]
fn include_line_may_end_with_a_closing_brace() {
    let src = MemSource::new()
        .with(
            "/k/main.conf",
            "global_defs { router_id r\n  include d/{a,b}.conf } k 1\n",
        )
        .with("/k/d/a.conf", "a 1\n")
        .with("/k/d/b.conf", "b 2\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    assert_eq!(
        render(&p.nodes),
        "global_defs {\n  router_id r\n  a 1\n  b 2\n}\nk 1\n"
    );
    assert_eq!(p.nodes[1].span().to_string(), "/k/main.conf:2:26");
}

#[test]
fn real_filesystem_includes_in_sorted_glob_order() {
    let dir = std::env::temp_dir().join(format!("keel-pre-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("keepalived.conf"),
        "include conf.d/*.conf\r\n$M= \\\r\n  k ${_PWD}\r\n$M\r\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/20-b.conf"), "b 2\n").unwrap();
    std::fs::write(dir.join("conf.d/10-a.conf"), "a 1\n").unwrap();
    std::fs::write(dir.join("conf.d/.hidden.conf"), "hidden\n").unwrap();
    let top = dir.join("keepalived.conf");
    let p = load_file(&top, &keel_config::FsSource, &opts("")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(render(&p.nodes), format!("a 1\nb 2\nk {}\n", dir.display()));
    assert_eq!(p.files.len(), 3);
}

#[test]
fn missing_top_file_is_an_error() {
    let e = load_file(Path::new("/k/none.conf"), &MemSource::new(), &opts("")).unwrap_err();
    assert!(e.to_string().contains("/k/none.conf"), "{e}");
}

#[test]
fn include_depth_is_bounded() {
    // Distinct files, so not a loop: a chain longer than the limit.
    let mut src = MemSource::new();
    for i in 0..50 {
        src.insert(format!("/k/{i}.conf"), format!("include {}.conf\n", i + 1));
    }
    src.insert("/k/50.conf", "x\n");
    let e = load_file(Path::new("/k/0.conf"), &src, &opts("")).unwrap_err();
    assert!(matches!(e, ConfigError::IncludeTooDeep { .. }), "{e:?}");
}

// ---------- macros ----------

#[test]
fn simple_and_braced_macros() {
    let got =
        r("$PRIO=150\n$IF=eth0\nvrrp_instance V {\n priority $PRIO\n interface ${IF}.10\n}\n");
    assert_eq!(
        got,
        "vrrp_instance V {\n  priority 150\n  interface eth0.10\n}\n"
    );
}

#[test]
fn macros_are_recursive_and_lazily_expanded() {
    // keepalived.conf(5), "Parameter substitution".
    let got = r(
        "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n",
    );
    assert_eq!(got, "10.2.0.100/32\n10.2.10.100/32\n");
}

#[test]
fn unbraced_macro_needs_a_separator_after_it() {
    let p = parse("$A=x\nk $A.b $A,c ($A) $A\n");
    let args: Vec<&str> = p.nodes[0].args.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(args, ["$A.b", "x,c", "(x)", "x"]);
}

#[test]
fn undefined_macro_is_left_unchanged_with_a_warning() {
    let p = parse("script \"/bin/x $HOME y\" ${NOPE}\n");
    assert_eq!(p.nodes[0].args[0].text, "/bin/x $HOME y");
    assert_eq!(p.nodes[0].args[1].text, "${NOPE}");
    let w: Vec<String> = p.diagnostics.warnings().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("/etc/keepalived/keepalived.conf:1:16: warning: '$HOME'"),
        "{w:?}"
    );
}

#[test]
fn macros_expand_inside_quotes() {
    let p = parse("$N=7\nmisc_path \"/bin/check ${N} x\"\n");
    assert_eq!(p.nodes[0].args[0].text, "/bin/check 7 x");
}

#[test]
fn empty_macro_value_is_allowed() {
    assert_eq!(r("$E=\nk a$E b${E}c\n"), "k a bc\n");
}

#[test]
fn multi_line_macro_produces_statements() {
    // keepalived.conf(5): multi-line definitions end each line but the last with '\'.
    let text = "$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n    interface eth0.${NUM} \\\n\n    @main priority 130 \\\n    @low priority 120 \\\n    virtual_router_id ${NUM} \\\n}\n\n$NUM=1\n$INSTANCE\n$NUM=2\n$INSTANCE\n";
    assert_eq!(
        r(text),
        "vrrp_instance VI_1 {\n  interface eth0.1\n  priority 130\n  virtual_router_id 1\n}\nvrrp_instance VI_2 {\n  interface eth0.2\n  priority 130\n  virtual_router_id 2\n}\n"
    );
}

#[test]
fn nested_multi_line_macros_with_definitions_inside() {
    let text = "$RS= \\\nreal_server 192.0.2.${RS_NUM} 80 { \\\n weight 1 \\\n}\n$VS= \\\nvirtual_server 198.51.100.${VS_NUM} 80 { \\\n $RS_NUM=1 \\\n $RS \\\n $RS_NUM=2 \\\n $RS \\\n}\n$VS_NUM=4\n$VS\n";
    assert_eq!(
        r(text),
        "virtual_server 198.51.100.4 80 {\n  real_server 192.0.2.1 80 {\n    weight 1\n  }\n  real_server 192.0.2.2 80 {\n    weight 1\n  }\n}\n"
    );
}

#[test]
fn multi_line_macro_after_a_prefix_joins_its_first_line() {
    assert_eq!(
        r("$B= \\\n{ \\\n a 1 \\\n}\nglobal_defs $B\n"),
        "global_defs {\n  a 1\n}\n"
    );
}

#[test]
fn macro_loop_is_an_error_naming_file_and_line() {
    let e = parse_err("$A=x $B\n$B=y ${A}\nrouter_id a\nk $A\n");
    assert!(matches!(e, ConfigError::MacroLoop { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("/etc/keepalived/keepalived.conf:4:"),
        "{msg}"
    );
    assert!(msg.contains("$A -> $B -> $A"), "{msg}");
}

#[test]
fn multi_line_macro_loop_is_an_error() {
    let e = parse_err("$M= \\\n a 1 \\\n $M\n$M\n");
    assert!(matches!(e, ConfigError::MacroLoop { .. }), "{e:?}");
    assert_eq!(e.span().map(|s| s.line), Some(4));
}

#[test]
fn exponential_macro_growth_is_bounded() {
    let mut text = String::from("$M0=xxxxxxxxxxxxxxxx\n");
    for i in 1..40 {
        text.push_str(&format!("$M{i}=$M{p} $M{p}\n", p = i - 1));
    }
    text.push_str("k $M39\n");
    let e = parse_err(&text);
    assert!(
        matches!(
            e,
            ConfigError::LineTooLong { .. } | ConfigError::MacroTooDeep { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn builtin_macros() {
    let mut o = opts("lb1");
    o.env.insert("SITE".into(), "paris".into());
    o.random_seed = 7;
    let text = "k ${_PWD} ${_INSTANCE} ${_ENV SITE} ${_HASH}x ${_BANG} ${_RANDOM 5 9} ${_RANDOM}\n";
    let p = load_str(
        text,
        Path::new("/etc/keepalived/k.conf"),
        &MemSource::new(),
        &o,
    )
    .unwrap();
    let a: Vec<&str> = p.nodes[0].args.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(&a[..5], ["/etc/keepalived", "lb1", "paris", "#x", "!"]);
    let r1: u32 = a[5].parse().unwrap();
    assert!((5..=9).contains(&r1));
    let r2: u32 = a[6].parse().unwrap();
    assert!(r2 <= 32767);
    // Same seed, same output: the library is deterministic.
    let again = load_str(
        text,
        Path::new("/etc/keepalived/k.conf"),
        &MemSource::new(),
        &o,
    )
    .unwrap();
    assert_eq!(render(&p.nodes), render(&again.nodes));
}

#[test]
fn pwd_follows_the_included_file() {
    let src = MemSource::new()
        .with("/k/main.conf", "include sub/x.conf\nk ${_PWD}\n")
        .with("/k/sub/x.conf", "k ${_PWD}\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    assert_eq!(render(&p.nodes), "k /k/sub\nk /k\n");
}

#[test]
fn env_macro_reads_only_the_supplied_map() {
    let p = parse("k ${_ENV PATH}x\n");
    assert_eq!(p.nodes[0].args[0].text, "x");
    assert_eq!(p.diagnostics.warnings().count(), 1);
}

#[test]
fn macros_defined_in_an_include_are_visible_after_it() {
    let src = MemSource::new()
        .with("/k/main.conf", "include defs.conf\npriority $P\n")
        .with("/k/defs.conf", "$P=42\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    assert_eq!(render(&p.nodes), "priority 42\n");
}

// ---------- conditionals ----------

#[test]
fn conditional_lines_follow_the_config_id() {
    // keepalived.conf(5), "Conditional configuration and configuration id".
    let text = "global_defs {\n  @main router_id main_router\n  @backup router_id backup_router\n}\nunicast_peer {\n  @^main 192.0.2.4\n  @^backup 192.0.2.5\n}\n";
    let main = load_str(text, Path::new("k"), &MemSource::new(), &opts("main")).unwrap();
    assert_eq!(
        render(&main.nodes),
        "global_defs {\n  router_id main_router\n}\nunicast_peer {\n  192.0.2.5\n}\n"
    );
    let other = load_str(text, Path::new("k"), &MemSource::new(), &opts("other")).unwrap();
    assert_eq!(
        render(&other.nodes),
        "global_defs {\n}\nunicast_peer {\n  192.0.2.4\n  192.0.2.5\n}\n"
    );
}

#[test]
fn conditional_keeps_columns_and_works_with_macros() {
    let p = parse(
        "@main $PRIORITY=240\n@backup $PRIORITY=200\n$IF_MAIN=@main\n$IF_MAIN weight 5\npriority $PRIORITY\n",
    );
    assert_eq!(render(&p.nodes), "weight 5\npriority 240\n");
    let q = parse("@main   router_id x\n");
    assert_eq!(q.nodes[0].span().col, 9);
}

// ---------- ~SEQ / ~LST ----------

#[test]
fn seq_repeats_the_rest_of_the_line() {
    assert_eq!(
        r("~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1\n"),
        "ip_address 10.0.0.1\nip_address 10.0.1.1\nip_address 10.0.2.1\nip_address 10.0.3.1\n"
    );
    assert_eq!(r("~SEQ(i,1,2,7) k $i\n"), "k 1\nk 3\nk 5\nk 7\n");
    assert_eq!(r("~SEQ(i,3) k $i\n"), "k 1\nk 2\nk 3\n");
    assert_eq!(r("~SEQ(i,3,1) k $i\n"), "k 3\nk 2\nk 1\n");
}

#[test]
fn seqx_formats_in_hex() {
    assert_eq!(
        r("~SEQx(SUBNET, 0x90, 0x10, 0xc0) ip_address fe80::20:${SUBNET}:1\n"),
        "ip_address fe80::20:90:1\nip_address fe80::20:a0:1\nip_address fe80::20:b0:1\nip_address fe80::20:c0:1\n"
    );
}

#[test]
fn nested_seq_on_one_line() {
    assert_eq!(
        r(
            "virtual_ipaddress {\n ~SEQx(AD2, 0x90, 0x10, 0xa0) ~SEQx(AD1, 0x12, -1, 0x11) fe81::10:${AD2}:${AD1}\n}\n"
        ),
        "virtual_ipaddress {\n  fe81::10:90:12\n  fe81::10:90:11\n  fe81::10:a0:12\n  fe81::10:a0:11\n}\n"
    );
}

#[test]
fn seq_parameters_may_be_macros() {
    assert_eq!(r("$N=2\n~SEQ(i, $N) k $i\n"), "k 1\nk 2\n");
}

#[test]
fn invalid_seq_is_an_error_with_position() {
    let e = parse_err("x\n  ~SEQ(i, 1, -1, 3) k $i\n");
    assert!(matches!(e, ConfigError::BadGenerator { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("/etc/keepalived/keepalived.conf:2:3: '~SEQ'"),
        "{e}"
    );
    assert!(matches!(
        parse_err("~SEQ(i, 1, 3 k\n"),
        ConfigError::BadGenerator { .. }
    ));
    assert!(matches!(
        parse_err("~SEQx(i, -3, 3) k\n"),
        ConfigError::BadGenerator { .. }
    ));
}

#[test]
fn lst_with_single_values_and_tuples() {
    assert_eq!(
        r("~LST(IF, eth0, eth1) interface $IF\n"),
        "interface eth0\ninterface eth1\n"
    );
    assert_eq!(
        r("~LST({IP, IP1}, {10,1},{20,4},{5,6},{12,8}) 192.168.${IP}.${IP1}\n"),
        "192.168.10.1\n192.168.20.4\n192.168.5.6\n192.168.12.8\n"
    );
}

#[test]
fn lst_nests_and_combines_with_seq() {
    assert_eq!(
        r("~LST(IP, 1, 2) ~LST(IP1, 5,6,7) 192.169.${IP}.${IP1}\n"),
        "192.169.1.5\n192.169.1.6\n192.169.1.7\n192.169.2.5\n192.169.2.6\n192.169.2.7\n"
    );
    assert_eq!(
        r("~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,172) 192.${IP2}.${IP}.${IP1}\n"),
        "192.168.10.1\n192.170.10.1\n192.172.10.1\n192.168.20.4\n192.170.20.4\n192.172.20.4\n"
    );
}

#[test]
fn seq_expands_a_multi_line_macro_into_whole_blocks() {
    let text = "$VI= \\\nvrrp_instance VI_${ID} { \\\n  virtual_router_id ${ID} \\\n  virtual_ipaddress { \\\n    192.0.2.${ID}/24 \\\n  } \\\n}\n~SEQ(ID,1,1,3) $VI\n";
    let p = parse(text);
    assert_eq!(p.nodes.len(), 3);
    assert_eq!(
        render(&p.nodes[2..]),
        "vrrp_instance VI_3 {\n  virtual_router_id 3\n  virtual_ipaddress {\n    192.0.2.3/24\n  }\n}\n"
    );
    // Spans of generated words point at the line that used the macro.
    assert_eq!(p.nodes[1].span().line, 8);
    assert_eq!(p.nodes[1].children()[0].args[0].span.line, 8);
}

#[test]
fn generator_from_a_macro_value() {
    assert_eq!(r("$GEN=~SEQ(i,1,2) k $i\n$GEN\n"), "k 1\nk 2\n");
}

#[test]
fn seq_output_is_bounded() {
    let e = parse_err("~SEQ(i, 1, 1, 100000000) k $i\n");
    assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("generated lines"), "{e}");
    // Nested generators are bounded through the running total.
    let mut o = opts("");
    o.limits.max_lines = 10_000;
    let e = load_str(
        "~SEQ(a,1,1,1000) ~SEQ(b,1,1,1000) k\n",
        Path::new("k"),
        &MemSource::new(),
        &o,
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
}

#[test]
fn ten_thousand_generated_instances_are_allowed() {
    let text = "$VI= \\\nvrrp_instance VI_${N} { \\\n  state BACKUP \\\n  interface eth0 \\\n  virtual_router_id 1 \\\n  priority 100 \\\n  virtual_ipaddress { \\\n    192.0.2.1/24 \\\n  } \\\n}\n~SEQ(N,1,1,10000) $VI\n";
    let p = parse(text);
    assert_eq!(p.nodes.len(), 10_000);
    assert_eq!(p.nodes[9_999].args[0].text, "VI_10000");
}

// ---------- spans ----------

#[test]
fn spans_name_file_line_and_column() {
    let p = parse("\nglobal_defs {\n\trouter_id  \"r 1\"\n}\n");
    let g = &p.nodes[0];
    assert_eq!(g.span().to_string(), "/etc/keepalived/keepalived.conf:2:1");
    let rid = &g.children()[0];
    assert_eq!((rid.span().line, rid.span().col), (3, 2));
    assert_eq!((rid.args[0].span.line, rid.args[0].span.col), (3, 13));
}

#[test]
fn spans_through_macros_point_at_the_use() {
    let src = MemSource::new()
        .with(
            "/k/main.conf",
            "include m.conf\nvrrp_instance V {\n  $BODY\n}\n",
        )
        .with("/k/m.conf", "$BODY=priority 5\n");
    let p = load_file(Path::new("/k/main.conf"), &src, &opts("")).unwrap();
    let prio = &p.nodes[0].children()[0];
    assert_eq!(prio.span().file.as_path(), Path::new("/k/main.conf"));
    assert_eq!(prio.span().line, 3);
}

#[test]
fn parse_str_is_a_thin_wrapper() {
    let n = keel_config::lexer::parse_str("$X=1\nk $X\n", "t.conf").unwrap();
    assert_eq!(render(&n), "k 1\n");
    assert!(keel_config::lexer::parse_str("a {\n", "t.conf").is_err());
}
