use super::*;
use proptest::prelude::*;

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

/// Parses every request in `input`; the error, if any, ends the list.
fn requests(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<String>, usize) {
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match parse_request(&mut buf) {
            Ok(Some(req)) => out.push(req),
            Ok(None) => return (out, None, buf.len()),
            Err(e) => return (out, Some(e.to_string()), buf.len()),
        }
    }
}

fn error_of(input: &[u8]) -> String {
    requests(input).1.expect("expected a protocol error")
}

#[test]
fn multibulk_requests_pipelined() {
    let (reqs, err, left) = requests(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4");
    assert_eq!(reqs, vec![args(&["GET", "k"]), args(&["PING"])]);
    assert_eq!(err, None);
    assert_eq!(left, 6, "the partial third request stays in the buffer");
}

#[test]
fn request_errors_match_redis() {
    // Each case was sent raw to redis-server 7.0.15; the expected text is its reply.
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*2147483648\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*-0\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*+1\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\nx3\r\n", "ERR Protocol error: expected '$', got 'x'"),
        // An empty line where a bulk length belongs (redis-server 7.0.15 answers this).
        (b"*2\r\n\r\n", "ERR Protocol error: expected '$', got ' '"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$ 4\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$4 \r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$536870913\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"\"abc\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"'abc\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"\"a\"b\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            &error_of(input),
            expected,
            "input {:?}",
            Bytes::copy_from_slice(input)
        );
    }
    assert_eq!(
        requests(b"*1\r\n$4\r\nPING\r\n*1\r\nq\r\n"),
        (
            vec![args(&["PING"])],
            Some("ERR Protocol error: expected '$', got 'q'".into()),
            7
        )
    );
}

#[test]
fn size_limits_match_redis() {
    let mut inline = vec![b'A'; MAX_INLINE_LEN];
    assert_eq!(
        requests(&inline).1,
        None,
        "64 KB without newline still waits"
    );
    inline.push(b'A');
    assert_eq!(
        error_of(&inline),
        "ERR Protocol error: too big inline request"
    );

    let mut long_line = b"ECHO ".to_vec();
    long_line.extend(std::iter::repeat_n(b'A', 70_000));
    long_line.extend_from_slice(b"\r\n");
    let (reqs, err, _) = requests(&long_line);
    assert_eq!((reqs[0][1].len(), err), (70_000, None));

    let mut count = b"*".to_vec();
    count.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN + 1));
    assert_eq!(
        error_of(&count),
        "ERR Protocol error: too big mbulk count string"
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN + 1));
    assert_eq!(
        error_of(&bulk),
        "ERR Protocol error: too big bulk count string"
    );

    // Accepted headers that wait for more data, as Redis does.
    for input in [
        &b"*2147483647\r\n"[..],
        b"*2000000\r\n",
        b"*1\r\n$536870912\r\n",
        b"*1\n",
    ] {
        assert_eq!(requests(input), (vec![], None, input.len()));
    }
}

#[test]
fn lengths_follow_redis_integer_syntax() {
    let cases: &[(&[u8], Option<i64>)] = &[
        (b"0", Some(0)),
        (b"7", Some(7)),
        (b"-1", Some(-1)),
        (b"123456", Some(123456)),
        (b"9223372036854775807", Some(i64::MAX)),
        (b"-9223372036854775808", Some(i64::MIN)),
        (b"9223372036854775808", None),
        (b"-9223372036854775809", None),
        (b"-0", None),
        (b"01", None),
        (b"+1", None),
        (b"", None),
        (b"-", None),
        (b"1a", None),
        (b" 1", None),
    ];
    for &(text, expected) in cases {
        assert_eq!(
            parse_redis_int(text),
            expected,
            "{:?}",
            Bytes::copy_from_slice(text)
        );
    }
}

#[test]
fn small_frames_share_one_copy_and_large_ones_copy_each_argument() {
    let mut small = BytesMut::new();
    encode_request(&["SET", "key", "value"], &mut small);
    small.extend_from_slice(b"+next");
    let args = parse_request(&mut small).unwrap().unwrap();
    assert_eq!(args, vec!["SET", "key", "value"]);
    // `*3\r\n$3\r\nSET\r\n$3\r\n` lies between the start of "SET" and of "key".
    assert_eq!(
        args[1].as_ptr() as usize - args[0].as_ptr() as usize,
        3 + 2 + 4
    );
    assert_eq!(
        &small[..],
        b"+next",
        "the frame was consumed, the rest kept"
    );

    let value = "v".repeat(SHARED_FRAME_MAX_LEN);
    let mut large = BytesMut::new();
    encode_request(&["SET", "key", &value], &mut large);
    let args = parse_request(&mut large).unwrap().unwrap();
    assert_eq!(args, vec!["SET", "key", value.as_str()]);
    assert!(large.is_empty());
}

#[test]
fn empty_frames_are_skipped() {
    let (reqs, err, left) = requests(b"*-1\r\n*0\r\n*-5\r\n\r\n   \r\n\nPING\n");
    assert_eq!((reqs, err, left), (vec![args(&["PING"])], None, 0));
    assert_eq!(requests(b"*0\r\n"), (vec![], None, 0));
}

#[test]
fn lenient_terminators_like_redis() {
    let (reqs, _, left) = requests(b"*1\r\n$4\r\nPINGxx*1\rX$4\rXPING\r\n");
    assert_eq!((reqs, left), (vec![args(&["PING"]), args(&["PING"])], 0));
}

#[test]
fn inline_quoting_matches_redis() {
    let cases: &[(&[u8], &[&[u8]])] = &[
        (b"ECHO \"a\\x41\\n\\q\\\\\"\r\n", &[b"ECHO", b"aA\nq\\"]),
        (b"ECHO 'a\\'b\\n'\r\n", &[b"ECHO", b"a'b\\n"]),
        (b"ECHO a\"b c\"\r\n", &[b"ECHO", b"ab c"]),
        (b"ECHO \"\"\r\n", &[b"ECHO", b""]),
        (b"ECHO \"\\x4g\"\r\n", &[b"ECHO", b"x4g"]),
        (b"ECHO a\tb\r\n", &[b"ECHO", b"a", b"b"]),
        (b"ECHO a\x0bb\r\n", &[b"ECHO", b"a\x0bb"]),
        (
            b"  SET  k   \"\\t\\r\\b\\a\"  \n",
            &[b"SET", b"k", b"\t\r\x08\x07"],
        ),
    ];
    for (input, expected) in cases {
        let (reqs, err, left) = requests(input);
        let expected: Vec<Bytes> = expected.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        assert_eq!(
            (reqs, err, left),
            (vec![expected], None, 0),
            "input {input:?}"
        );
    }
    assert_eq!(split_args(b"\"abc\\\""), None);
    assert_eq!(split_args(b"'a'b"), None);
}

#[test]
fn encode_replies_resp2_and_resp3() {
    let cases: Vec<(Reply, &str, &str)> = vec![
        (Reply::ok(), "+OK\r\n", "+OK\r\n"),
        (Reply::err("x\r\ny"), "-ERR x  y\r\n", "-ERR x  y\r\n"),
        (Reply::Integer(-42), ":-42\r\n", ":-42\r\n"),
        (
            Reply::Integer(i64::MIN),
            ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n",
        ),
        (Reply::bulk_str("hi"), "$2\r\nhi\r\n", "$2\r\nhi\r\n"),
        (Reply::Nil, "$-1\r\n", "_\r\n"),
        (Reply::NilArray, "*-1\r\n", "_\r\n"),
        (
            Reply::Array(vec![Reply::Integer(1), Reply::Nil]),
            "*2\r\n:1\r\n$-1\r\n",
            "*2\r\n:1\r\n_\r\n",
        ),
        (
            Reply::Map(vec![(Reply::bulk_str("a"), Reply::Integer(1))]),
            "*2\r\n$1\r\na\r\n:1\r\n",
            "%1\r\n$1\r\na\r\n:1\r\n",
        ),
        (
            Reply::Set(vec![Reply::bulk_str("m")]),
            "*1\r\n$1\r\nm\r\n",
            "~1\r\n$1\r\nm\r\n",
        ),
        (
            Reply::Verbatim("txt", "a b".into()),
            "$3\r\na b\r\n",
            "=7\r\ntxt:a b\r\n",
        ),
        (
            Reply::Double(1.1),
            "$18\r\n1.1000000000000001\r\n",
            ",1.1000000000000001\r\n",
        ),
        (
            Reply::Double(f64::NEG_INFINITY),
            "$4\r\n-inf\r\n",
            ",-inf\r\n",
        ),
        (Reply::Bool(true), ":1\r\n", "#t\r\n"),
        (Reply::Bool(false), ":0\r\n", "#f\r\n"),
    ];
    for (reply, resp2, resp3) in cases {
        for (protocol, expected) in [(2, resp2), (3, resp3)] {
            let mut out = BytesMut::new();
            encode_reply(&reply, protocol, &mut out);
            assert_eq!(&out[..], expected.as_bytes(), "{reply:?} in RESP{protocol}");
        }
    }
}

#[test]
fn doubles_print_like_c_percent_17g() {
    // Expected strings from C's printf("%.17g") (via Python's % operator) and ZSCORE.
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (3.0, "3"),
        (0.5, "0.5"),
        (1e16, "10000000000000000"),
        (1e17, "1e+17"),
        (1e100, "1e+100"),
        (-2.5e-300, "-2.5e-300"),
        (5e-324, "4.9406564584124654e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1, "0.10000000000000001"),
        (2.0 / 3.0, "0.66666666666666663"),
        (-123.456, "-123.456"),
        (0.0001, "0.0001"),
        (1e-5, "1.0000000000000001e-05"),
        (9.999999999999999e-05, "9.9999999999999991e-05"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1.2345678901234568e+16, "12345678901234568"),
        (10928588.983213553, "10928588.983213553"),
        (-7.571968556055867e-74, "-7.5719685560558675e-74"),
        (f64::INFINITY, "inf"),
        (f64::NAN, "nan"),
    ];
    for &(d, expected) in cases {
        assert_eq!(format_double(d), expected, "{d:e}");
    }
}

fn reply_of(input: &[u8]) -> Result<Option<Reply>, ProtocolError> {
    parse_reply(&mut BytesMut::from(input))
}

#[test]
fn parse_resp3_replies() {
    let cases: Vec<(&[u8], Reply)> = vec![
        (b"_\r\n", Reply::Nil),
        (b"$-1\r\n", Reply::Nil),
        (b"*-1\r\n", Reply::NilArray),
        (b",inf\r\n", Reply::Double(f64::INFINITY)),
        (b",1.5\r\n", Reply::Double(1.5)),
        (
            b"(12345678901234567890\r\n",
            Reply::bulk_str("12345678901234567890"),
        ),
        (b"!9\r\nERR oops!\r\n", Reply::err("oops!")),
        (b"=7\r\nmkd:a b\r\n", Reply::Verbatim("mkd", "a b".into())),
        (b"=7\r\nxyz:a b\r\n", Reply::bulk_str("a b")),
        (
            b">2\r\n+a\r\n:1\r\n",
            Reply::Array(vec![Reply::simple("a"), Reply::Integer(1)]),
        ),
        (b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", Reply::bulk_str("v")),
        (b"~0\r\n", Reply::Set(vec![])),
    ];
    for (input, expected) in cases {
        assert_eq!(reply_of(input), Ok(Some(expected)), "{input:?}");
    }
    for bad in [
        &b"?x\r\n"[..],
        b"#x\r\n",
        b":1x\r\n",
        b"$1\r\nab\r\n",
        b"+a\rb\r\n",
        b"*-2\r\n",
    ] {
        assert!(reply_of(bad).is_err(), "{bad:?}");
    }
    let deep = b"*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
    assert!(reply_of(&deep).is_err());
}

/// What a RESP2 reader sees of a reply.
fn resp2_view(reply: &Reply) -> Reply {
    match reply {
        Reply::Array(items) | Reply::Set(items) => {
            Reply::Array(items.iter().map(resp2_view).collect())
        }
        Reply::Map(pairs) => Reply::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [resp2_view(k), resp2_view(v)])
                .collect(),
        ),
        Reply::Verbatim(_, text) => Reply::bulk_str(text),
        Reply::Double(d) => Reply::bulk_str(&format_double(*d)),
        Reply::Bool(b) => Reply::Integer(*b as i64),
        other => other.clone(),
    }
}

/// What a RESP3 reader sees of a reply.
fn resp3_view(reply: &Reply) -> Reply {
    match reply {
        Reply::NilArray => Reply::Nil,
        Reply::Array(items) => Reply::Array(items.iter().map(resp3_view).collect()),
        Reply::Set(items) => Reply::Set(items.iter().map(resp3_view).collect()),
        Reply::Map(pairs) => Reply::Map(
            pairs
                .iter()
                .map(|(k, v)| (resp3_view(k), resp3_view(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn line_text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,12}"
}

fn any_reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        line_text().prop_map(Reply::Simple),
        line_text().prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Reply::Bulk(v.into())),
        Just(Reply::Nil),
        Just(Reply::NilArray),
        (prop_oneof![Just("txt"), Just("mkd")], ".{0,10}").prop_map(|(f, t)| Reply::Verbatim(f, t)),
        any::<f64>()
            .prop_filter("nan never equals itself", |d| !d.is_nan())
            .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Set),
            proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
        ]
    })
}

/// Every proper prefix of `frame` is incomplete and consumes nothing; the whole frame parses
/// to `expected` and is consumed exactly.
fn check_splits<T: PartialEq + std::fmt::Debug>(
    frame: &[u8],
    expected: &T,
    parse: impl Fn(&mut BytesMut) -> Result<Option<T>, ProtocolError>,
) {
    for cut in 0..frame.len() {
        let mut buf = BytesMut::from(&frame[..cut]);
        assert_eq!(parse(&mut buf), Ok(None), "prefix of {cut} bytes");
        assert_eq!(buf.len(), cut, "a partial frame was consumed");
    }
    let mut buf = BytesMut::from(frame);
    buf.extend_from_slice(b"+next");
    let got = parse(&mut buf);
    assert_eq!(got.as_ref().map(|o| o.as_ref()), Ok(Some(expected)));
    assert_eq!(&buf[..], b"+next");
}

proptest! {
    #[test]
    fn request_round_trip_and_splits(
        list in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..6)
    ) {
        let mut frame = BytesMut::new();
        encode_request(&list, &mut frame);
        let expected: Vec<Bytes> = list.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        check_splits(&frame, &expected, parse_request);
    }

    #[test]
    fn inline_hex_quoting_round_trips(
        list in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..5)
    ) {
        let mut line = Vec::new();
        for arg in &list {
            line.extend_from_slice(b" \"");
            for b in arg {
                line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
            line.push(b'"');
        }
        line.extend_from_slice(b"\r\n");
        let expected: Vec<Bytes> = list.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut buf = BytesMut::from(&line[..]);
        prop_assert_eq!(parse_request(&mut buf), Ok(Some(expected)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn reply_round_trips_and_splits(reply in any_reply()) {
        for (protocol, view) in [(2u8, resp2_view(&reply)), (3, resp3_view(&reply))] {
            let mut frame = BytesMut::new();
            encode_reply(&reply, protocol, &mut frame);
            check_splits(&frame, &view, parse_reply);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = parse_request(&mut buf) {}
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = parse_reply(&mut buf) {}
    }

    #[test]
    fn resp_like_bytes_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(&b"*"[..]), Just(&b"$"[..]), Just(&b"\r\n"[..]), Just(&b"-1"[..]),
                Just(&b"2"[..]), Just(&b"%"[..]), Just(&b"|"[..]), Just(&b"\""[..]),
                Just(&b"'"[..]), Just(&b"\\x"[..]), Just(&b"="[..]), Just(&b"a"[..]),
            ],
            0..40,
        )
    ) {
        let data = parts.concat();
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = parse_request(&mut buf) {}
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = parse_reply(&mut buf) {}
    }
}

#[test]
fn proto_max_bulk_len_refuses_a_longer_bulk_before_its_data_arrives() {
    let limit = 1024 * 1024;
    let mut at_limit = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1048576\r\nabc"[..]);
    assert_eq!(parse_request_limited(&mut at_limit, limit), Ok(None));
    let mut over = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1048577\r\n"[..]);
    let refused = parse_request_limited(&mut over, limit);
    assert_eq!(refused, Err(ProtocolError::InvalidBulkLength));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "ERR Protocol error: invalid bulk length"
    );
    let mut small = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]);
    assert_eq!(
        parse_request_limited(&mut small, limit),
        Ok(Some(args(&["GET", "k"])))
    );
}
