//! Wire tests of the IPVS messages (little-endian hosts: the fixtures are
//! byte dumps).

use super::*;
use crate::nl::{NLM_F_ACK, NLM_F_REQUEST};

const IPVS_FAMILY: u16 = 0x20;

fn request(command: u8, fill: impl FnOnce(&mut Request)) -> Vec<u8> {
    let mut r = Request::new(
        IPVS_FAMILY,
        NLM_F_REQUEST | NLM_F_ACK,
        7,
        command,
        IPVS_GENL_VERSION,
    );
    fill(&mut r);
    r.finish()
}

#[test]
fn new_service_ipv4_persistent_golden_bytes() {
    let key = ServiceKey::Addr {
        ip: IpAddr::from([192, 0, 2, 1]),
        proto: Protocol::Tcp,
        port: 80,
    };
    let mut svc = Service::new(key, "rr");
    svc.flags.set(ServiceFlags::PERSISTENT, true);
    // HASHED is the kernel's: it must never be sent, even if read back.
    svc.flags.set(ServiceFlags::HASHED, true);
    svc.timeout = 300;
    svc.netmask = 0xffff_ff00;
    let got = request(cmd::NEW_SERVICE, |r| encode_service(r, &svc).unwrap());
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        104, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr: len, family, REQUEST|ACK, seq 7, pid 0
        1, 1, 0, 0,                                          // genlmsghdr: IPVS_CMD_NEW_SERVICE, version 1
        84, 0, 1, 0,                                         // IPVS_CMD_ATTR_SERVICE (1), nest of 84
        6, 0, 1, 0, 2, 0, 0, 0,                              // IPVS_SVC_ATTR_AF (1) = AF_INET
        6, 0, 2, 0, 6, 0, 0, 0,                              // IPVS_SVC_ATTR_PROTOCOL (2) = IPPROTO_TCP
        20, 0, 3, 0, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // IPVS_SVC_ATTR_ADDR (3), nf_inet_addr
        6, 0, 4, 0, 0, 80, 0, 0,                             // IPVS_SVC_ATTR_PORT (4), big-endian 80
        7, 0, 6, 0, b'r', b'r', 0, 0,                        // IPVS_SVC_ATTR_SCHED_NAME (6) "rr\0"
        12, 0, 7, 0, 1, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff,     // IPVS_SVC_ATTR_FLAGS (7): PERSISTENT, mask ~HASHED
        8, 0, 8, 0, 0x2c, 1, 0, 0,                           // IPVS_SVC_ATTR_TIMEOUT (8) = 300
        8, 0, 9, 0, 255, 255, 255, 0,                        // IPVS_SVC_ATTR_NETMASK (9), __be32 255.255.255.0
    ];
    assert_eq!(got, want);
}

#[test]
fn set_service_ipv6_with_engine_golden_bytes() {
    let key = ServiceKey::Addr {
        ip: "2001:db8::1".parse().unwrap(),
        proto: Protocol::Udp,
        port: 5060,
    };
    let mut svc = Service::new(key, "sh");
    svc.flags.set(ServiceFlags::SCHED1, true);
    svc.flags.set(ServiceFlags::SCHED2, true);
    svc.flags.set(ServiceFlags::ONEPACKET, true);
    svc.netmask = 64;
    svc.pe_name = Some("sip".into());
    let got = request(cmd::SET_SERVICE, |r| encode_service(r, &svc).unwrap());
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        112, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        2, 1, 0, 0,                                          // IPVS_CMD_SET_SERVICE
        92, 0, 1, 0,
        6, 0, 1, 0, 10, 0, 0, 0,                             // AF_INET6
        6, 0, 2, 0, 17, 0, 0, 0,                             // IPPROTO_UDP
        20, 0, 3, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        6, 0, 4, 0, 0x13, 0xc4, 0, 0,                        // port 5060
        7, 0, 6, 0, b's', b'h', 0, 0,
        8, 0, 11, 0, b's', b'i', b'p', 0,                    // IPVS_SVC_ATTR_PE_NAME (11)
        12, 0, 7, 0, 0x1c, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff,  // ONEPACKET|SCHED1|SCHED2
        8, 0, 8, 0, 0, 0, 0, 0,
        8, 0, 9, 0, 64, 0, 0, 0,                             // IPv6 netmask: host-order prefix length
    ];
    assert_eq!(got, want);
}

#[test]
fn new_dest_gue_tunnel_in_fwmark_service_golden_bytes() {
    let key = ServiceKey::Fwmark {
        mark: 7,
        family: Family::Inet6,
    };
    let mut d = Dest::new("2001:db8::10".parse().unwrap(), 8080);
    d.fwd = Forward::Tunnel;
    d.weight = 3;
    d.u_threshold = 10;
    d.l_threshold = 2;
    d.tun_type = TunnelType::Gue;
    d.tun_port = 6080;
    d.tun_flags = TUN_FLAG_CSUM;
    let got = request(cmd::NEW_DEST, |r| {
        encode_service_id(r, &key);
        encode_dest(r, &d).unwrap();
    });
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        136, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        5, 1, 0, 0,                                          // IPVS_CMD_NEW_DEST
        20, 0, 1, 0,                                         // IPVS_CMD_ATTR_SERVICE
        6, 0, 1, 0, 10, 0, 0, 0,                             //   AF_INET6
        8, 0, 5, 0, 7, 0, 0, 0,                              //   IPVS_SVC_ATTR_FWMARK (5) = 7
        96, 0, 2, 0,                                         // IPVS_CMD_ATTR_DEST (2)
        20, 0, 1, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // IPVS_DEST_ATTR_ADDR (1)
        6, 0, 2, 0, 0x1f, 0x90, 0, 0,                        //   IPVS_DEST_ATTR_PORT (2), big-endian 8080
        6, 0, 11, 0, 10, 0, 0, 0,                            //   IPVS_DEST_ATTR_ADDR_FAMILY (11)
        8, 0, 3, 0, 2, 0, 0, 0,                              //   IPVS_DEST_ATTR_FWD_METHOD (3) = IP_VS_CONN_F_TUNNEL
        8, 0, 4, 0, 3, 0, 0, 0,                              //   IPVS_DEST_ATTR_WEIGHT (4)
        8, 0, 5, 0, 10, 0, 0, 0,                             //   IPVS_DEST_ATTR_U_THRESH (5)
        8, 0, 6, 0, 2, 0, 0, 0,                              //   IPVS_DEST_ATTR_L_THRESH (6)
        5, 0, 13, 0, 1, 0, 0, 0,                             //   IPVS_DEST_ATTR_TUN_TYPE (13) = GUE
        6, 0, 14, 0, 0x17, 0xc0, 0, 0,                       //   IPVS_DEST_ATTR_TUN_PORT (14), big-endian 6080
        6, 0, 15, 0, 1, 0, 0, 0,                             //   IPVS_DEST_ATTR_TUN_FLAGS (15) = CSUM
    ];
    assert_eq!(got, want);
}

#[test]
fn del_dest_and_flush_golden_bytes() {
    let key = ServiceKey::Addr {
        ip: IpAddr::from([192, 0, 2, 1]),
        proto: Protocol::Sctp,
        port: 3868,
    };
    let got = request(cmd::DEL_DEST, |r| {
        encode_service_id(r, &key);
        encode_dest_id(r, IpAddr::from([198, 51, 100, 7]), 3868);
    });
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        108, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        7, 1, 0, 0,                                          // IPVS_CMD_DEL_DEST
        48, 0, 1, 0,
        6, 0, 1, 0, 2, 0, 0, 0,
        6, 0, 2, 0, 132, 0, 0, 0,                            // IPPROTO_SCTP
        20, 0, 3, 0, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        6, 0, 4, 0, 0x0f, 0x1c, 0, 0,                        // 3868
        40, 0, 2, 0,
        20, 0, 1, 0, 198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        6, 0, 2, 0, 0x0f, 0x1c, 0, 0,
        6, 0, 11, 0, 2, 0, 0, 0,
    ];
    assert_eq!(got, want);
    let flush = request(cmd::FLUSH, |_| {});
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        20, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        17, 1, 0, 0,                                         // IPVS_CMD_FLUSH, no attributes
    ];
    assert_eq!(flush, want);
}

/// A service as the kernel dumps it (`ip_vs_genl_fill_service`): HASHED
/// set, mask all ones, both the 32-bit and the 64-bit statistics nests.
#[test]
fn decode_kernel_service_reply() {
    #[rustfmt::skip]
    let nest: Vec<u8> = vec![
        6, 0, 1, 0, 10, 0, 0, 0,
        6, 0, 2, 0, 6, 0, 0, 0,
        20, 0, 3, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        6, 0, 4, 0, 0x01, 0xbb, 0, 0,                        // 443
        7, 0, 6, 0, b'm', b'h', 0, 0,
        12, 0, 7, 0, 0x0b, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,  // PERSISTENT|HASHED|SCHED1
        8, 0, 8, 0, 0x68, 1, 0, 0,                           // 360
        8, 0, 9, 0, 48, 0, 0, 0,                             // /48
        24, 0, 10, 0,                                        // IPVS_SVC_ATTR_STATS (10)
          8, 0, 1, 0, 5, 0, 0, 0,                            //   CONNS u32 = 5
          12, 0, 4, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0,            //   INBYTES u64 = 1000
        28, 0, 12, 0,                                        // IPVS_SVC_ATTR_STATS64 (12)
          12, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0,               //   CONNS u64 = 6
          12, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0,               //   INPKTS u64 = 2^32
    ];
    let svc = decode_service(&nest).unwrap();
    assert_eq!(
        svc.key,
        ServiceKey::Addr {
            ip: "2001:db8::1".parse().unwrap(),
            proto: Protocol::Tcp,
            port: 443
        }
    );
    assert_eq!(svc.sched_name, "mh");
    assert!(svc.flags.contains(ServiceFlags::PERSISTENT));
    assert!(svc.flags.contains(ServiceFlags::HASHED));
    assert!(svc.flags.contains(ServiceFlags::SCHED1));
    assert!(!svc.flags.contains(ServiceFlags::SCHED2));
    assert_eq!((svc.timeout, svc.netmask), (360, 48));
    assert_eq!(svc.netmask_prefix(), Some(48));
    // STATS64 wins over the 32-bit nest.
    assert_eq!((svc.stats.conns, svc.stats.inpkts), (6, 1 << 32));
    assert_eq!(svc.pe_name, None);
}

#[test]
fn decode_kernel_fwmark_service_and_ipv4_netmask() {
    #[rustfmt::skip]
    let nest: Vec<u8> = vec![
        6, 0, 1, 0, 2, 0, 0, 0,
        8, 0, 5, 0, 0x39, 0x30, 0, 0,                        // fwmark 12345
        8, 0, 6, 0, b'w', b'l', b'c', 0,
        12, 0, 7, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        8, 0, 8, 0, 0x2c, 1, 0, 0,
        8, 0, 9, 0, 255, 255, 240, 0,                        // 255.255.240.0
    ];
    let svc = decode_service(&nest).unwrap();
    assert_eq!(
        svc.key,
        ServiceKey::Fwmark {
            mark: 12345,
            family: Family::Inet
        }
    );
    assert_eq!(svc.netmask, 0xffff_f000);
    assert_eq!(svc.netmask_prefix(), Some(20));
}

#[test]
fn decode_kernel_dest_reply_with_counters() {
    #[rustfmt::skip]
    let nest: Vec<u8> = vec![
        20, 0, 1, 0, 198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        6, 0, 2, 0, 0, 80, 0, 0,
        8, 0, 3, 0, 3, 0, 0, 0,                              // DROUTE
        8, 0, 4, 0, 2, 0, 0, 0,
        5, 0, 13, 0, 0, 0, 0, 0,
        6, 0, 14, 0, 0, 0, 0, 0,
        6, 0, 15, 0, 0, 0, 0, 0,
        8, 0, 5, 0, 0, 0, 0, 0,
        8, 0, 6, 0, 0, 0, 0, 0,
        8, 0, 7, 0, 4, 0, 0, 0,                              // ACTIVE_CONNS
        8, 0, 8, 0, 9, 0, 0, 0,                              // INACT_CONNS
        8, 0, 9, 0, 1, 0, 0, 0,                              // PERSIST_CONNS
        6, 0, 11, 0, 2, 0, 0, 0,
    ];
    let d = decode_dest(&nest, Family::Inet6).unwrap();
    assert_eq!(d.addr, IpAddr::from([198, 51, 100, 7]));
    assert_eq!((d.port, d.fwd, d.weight), (80, Forward::Route, 2));
    assert_eq!((d.active_conns, d.inact_conns, d.persist_conns), (4, 9, 1));
}

#[test]
fn decode_info_reply() {
    #[rustfmt::skip]
    let attrs: Vec<u8> = vec![
        8, 0, 1, 0, 0x01, 0x02, 0x01, 0,                     // IPVS_INFO_ATTR_VERSION = 0x010201
        8, 0, 2, 0, 0, 0x10, 0, 0,                           // IPVS_INFO_ATTR_CONN_TAB_SIZE = 4096
    ];
    let info = decode_info(&attrs).unwrap();
    assert_eq!(info.version_string(), "1.2.1");
    assert_eq!(info.conn_tab_size, 4096);
}

#[test]
fn malformed_replies_are_errors() {
    // AF missing.
    assert!(matches!(
        decode_service(&[8, 0, 5, 0, 1, 0, 0, 0]),
        Err(DecodeError::Missing { .. })
    ));
    // Unknown family.
    assert!(matches!(
        decode_service(&[6, 0, 1, 0, 7, 0, 0, 0, 8, 0, 5, 0, 1, 0, 0, 0]),
        Err(DecodeError::UnknownFamily(7))
    ));
    // A 3-byte port.
    assert!(matches!(
        decode_dest(&[7, 0, 2, 0, 1, 2, 3, 0], Family::Inet),
        Err(DecodeError::BadAttributeLength { .. })
    ));
    // Scheduler name without its NUL.
    let mut nest = vec![6, 0, 1, 0, 2, 0, 0, 0, 8, 0, 5, 0, 1, 0, 0, 0];
    nest.extend_from_slice(&[6, 0, 6, 0, b'r', b'r', 0, 0]);
    assert!(matches!(
        decode_service(&nest),
        Err(DecodeError::BadString { .. })
    ));
    // A forwarding method beyond IP_VS_CONN_F_BYPASS.
    assert!(Forward::from_code(5).is_err());
    assert!(decode_info(&[8, 0, 1, 0, 1, 2, 1, 0]).is_err());
}

#[test]
fn names_too_long_for_the_kernel_are_refused() {
    let key = ServiceKey::Fwmark {
        mark: 1,
        family: Family::Inet,
    };
    let mut r = Request::new(IPVS_FAMILY, 0, 1, cmd::NEW_SERVICE, 1);
    assert!(encode_service(&mut r, &Service::new(key, "sixteen-chars-xx")).is_err());
    assert!(encode_service(&mut r, &Service::new(key, "")).is_err());
    let mut v6 = Service::new(
        ServiceKey::Fwmark {
            mark: 1,
            family: Family::Inet6,
        },
        "rr",
    );
    v6.netmask = 0;
    assert!(encode_service(&mut r, &v6).is_err());
    let mut d = Dest::new(IpAddr::from([198, 51, 100, 1]), 1);
    d.weight = 1 << 31;
    assert!(encode_dest(&mut r, &d).is_err());
}
