//! Redis's extra Lua libraries (`bit`, `cjson`, `cmsgpack`, `struct`): exact results.

use bytes::Bytes;

use super::tests::{bulk, err, eval, plain_node, sha};
use crate::reply::Reply;

#[test]
fn bit_library_is_lua_bitop() {
    let (mut n, c) = plain_node();
    let s = "return {bit.band(0xff, 0x0f, 7), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), \
             bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x80000000, 1), \
             bit.tobit(0xffffffff + 2), bit.tohex(255), bit.tohex(-1, -4), bit.bswap(0x12345678)}";
    let ints = |v: &[i64]| v.iter().map(|&i| Reply::Integer(i)).collect::<Vec<_>>();
    let mut expected = ints(&[7, 7, 6, -1, 2, 15, -16, 1, 1]);
    expected.extend([bulk("000000ff"), bulk("FFFF"), Reply::Integer(0x78563412)]);
    assert_eq!(eval(&mut n, c, s, &[], &[]), Reply::Array(expected));
}

#[test]
fn cjson_is_lua_cjson() {
    let (mut n, c) = plain_node();
    let s = "return {cjson.encode({1, 'a/b', {x=true}, 1e20, 1/3}), cjson.encode({}), \
             cjson.encode({[1]=1, [3]=3}), cjson.decode('[1,\"\\\\u00e9\",null]')[2], \
             cjson.decode('null') == cjson.null}";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        Reply::Array(vec![
            bulk(r#"[1,"a\/b",{"x":true},1e+20,0.33333333333333]"#),
            bulk("{}"),
            bulk("[1,null,3]"),
            bulk("é"),
            Reply::Integer(1),
        ])
    );
    let s = "return cjson.decode('[1,')";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        err(&format!(
            "ERR user_script:1: Expected value but found T_END at character 4 script: {}, on @user_script:1.",
            sha(s)
        ))
    );
}

#[test]
fn cmsgpack_packs_the_smallest_forms() {
    let (mut n, c) = plain_node();
    let s = "return {cmsgpack.pack(1, -1, 200, -200, 1.5, 'ab', {1, 2}, {a=true}, {}), \
             select('#', cmsgpack.unpack(cmsgpack.pack(1, 2, 3)))}";
    let packed =
        b"\x01\xff\xcc\xc8\xd1\xff\x38\xca\x3f\xc0\x00\x00\xa2ab\x92\x01\x02\x81\xa1a\xc3\x90";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(packed)),
            Reply::Integer(3)
        ])
    );
}

#[test]
fn struct_packs_and_unpacks() {
    let (mut n, c) = plain_node();
    let s = "return {struct.pack('>hB', -2, 7), struct.size('<i3d'), \
             struct.unpack('<h s', struct.pack('<h s', -3, 'ab'))}";
    assert_eq!(
        eval(&mut n, c, s, &[], &[]),
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"\xff\xfe\x07")),
            Reply::Integer(11),
            Reply::Integer(-3),
            bulk("ab"),
            Reply::Integer(6),
        ])
    );
}
