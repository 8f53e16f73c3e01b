use super::*;
use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};

/// Palermo and Catania, the values redis-server 7.0.15 answers for them.
fn sicily(h: &mut Harness) {
    let added = h.cmd(&[
        "GEOADD",
        "g",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ]);
    assert_eq!(added, int(2));
}

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

#[test]
fn geoadd_stores_geohash_scores_and_replays_as_zadd() {
    let mut h = Harness::new();
    sicily(&mut h);
    assert_eq!(
        h.cmd(&["ZSCORE", "g", "Palermo"]),
        Reply::Double(3479099956230698.0)
    );
    assert_eq!(
        h.cmd(&["GEOADD", "g", "XX", "CH", "1", "1", "Palermo", "2", "2", "new"]),
        int(1)
    );
    assert_eq!(h.cmd(&["EXISTS", "new"]), int(0));
    let errors: &[(&[&str], &str)] = &[
        (
            &["GEOADD", "g", "NX", "XX", "1", "2", "a"],
            "ERR syntax error",
        ),
        (&["GEOADD", "g", "1", "2", "a", "3"], "ERR syntax error"),
        (
            &["GEOADD", "g", "200", "2", "a"],
            "ERR invalid longitude,latitude pair 200.000000,2.000000",
        ),
        (
            &["GEOADD", "g", "1", "86", "a"],
            "ERR invalid longitude,latitude pair 1.000000,86.000000",
        ),
        (
            &["GEOADD", "g", "x", "2", "a"],
            "ERR value is not a valid float",
        ),
    ];
    for (args, text) in errors {
        assert_eq!(h.cmd(args), err(text), "{args:?}");
    }
    assert_eq!(
        take_propagated(),
        [
            "zadd g 3479099956230698 Palermo 3479447370796909 Catania",
            "zadd g XX CH 3377822707026402 Palermo 3378191666521995 new",
        ]
    );
}

#[test]
fn positions_distances_and_hashes() {
    let mut h = Harness::new();
    sicily(&mut h);
    let palermo = arr(vec![
        bulk("13.36138933897018433"),
        bulk("38.11555639549629859"),
    ]);
    assert_eq!(
        h.cmd(&["GEOPOS", "g", "Palermo", "nope"]),
        arr(vec![palermo, Reply::NilArray])
    );
    assert_eq!(
        h.cmd(&["GEODIST", "g", "Palermo", "Catania"]),
        bulk("166274.1516")
    );
    assert_eq!(
        h.cmd(&["GEODIST", "g", "Palermo", "Catania", "KM"]),
        bulk("166.2742")
    );
    assert_eq!(h.cmd(&["GEODIST", "g", "Palermo", "nope"]), Reply::Nil);
    assert_eq!(
        h.cmd(&["GEODIST", "g", "Palermo", "Catania", "yd"]),
        err("ERR unsupported unit provided. please use M, KM, FT, MI")
    );
    assert_eq!(
        h.cmd(&["GEOHASH", "g", "Palermo", "Catania", "nope"]),
        arr(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Reply::Nil])
    );
    h.cmd(&["SET", "s", "v"]);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(h.cmd(&["GEOPOS", "s", "a"]), err(wrongtype));
    assert_eq!(
        h.cmd(&[
            "GEOSEARCH",
            "s",
            "FROMLONLAT",
            "1",
            "1",
            "BYRADIUS",
            "1",
            "m"
        ]),
        err(wrongtype)
    );
}

#[test]
fn searches_sort_count_and_store() {
    let mut h = Harness::new();
    sicily(&mut h);
    let search = [
        "GEOSEARCH",
        "g",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "200",
        "km",
    ];
    assert_eq!(
        h.cmd(&search),
        arr(vec![bulk("Palermo"), bulk("Catania")]),
        "walk order"
    );
    let mut asc = search.to_vec();
    asc.extend(["ASC", "WITHDIST", "WITHHASH"]);
    assert_eq!(
        h.cmd(&asc),
        arr(vec![
            arr(vec![
                bulk("Catania"),
                bulk("56.4413"),
                int(3479447370796909)
            ]),
            arr(vec![
                bulk("Palermo"),
                bulk("190.4424"),
                int(3479099956230698)
            ]),
        ])
    );
    let by_box = [
        "GEOSEARCH",
        "g",
        "FROMMEMBER",
        "Catania",
        "BYBOX",
        "400",
        "400",
        "km",
        "DESC",
        "COUNT",
        "1",
    ];
    assert_eq!(h.cmd(&by_box), arr(vec![bulk("Palermo")]));
    assert_eq!(
        h.cmd(&["GEORADIUS", "g", "15", "37", "100", "km", "STOREDIST", "d"]),
        int(1)
    );
    assert_eq!(
        h.cmd(&["ZSCORE", "d", "Catania"]),
        Reply::Double(56.4412578701582)
    );
    assert_eq!(
        h.cmd(&[
            "GEOSEARCHSTORE",
            "d",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "m"
        ]),
        int(0)
    );
    assert_eq!(
        h.cmd(&["EXISTS", "d"]),
        int(0),
        "an empty result deletes the destination"
    );
    let errors: &[(&[&str], &str)] = &[
        (&["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (&["GEOSEARCH", "g", "BYRADIUS", "1", "km", "ASC", "WITHDIST"], "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
        (&["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "ASC", "WITHDIST"], "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"),
        (&["GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "-1", "km"], "ERR radius cannot be negative"),
        (&["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"], "ERR need numeric height"),
        (&["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "STORE", "x"], "ERR syntax error"),
        (&["GEORADIUS_RO", "g", "15", "37", "1", "km", "STORE", "x"], "ERR syntax error"),
        (&["GEORADIUS", "g", "15", "37", "1", "km", "STORE", "x", "WITHDIST"], "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "WITHHASH"], "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
    ];
    for (args, text) in errors {
        assert_eq!(h.cmd(args), err(text), "{args:?}");
    }
    assert_eq!(
        h.cmd(&["GEORADIUSBYMEMBER", "nokey", "nope", "1", "km"]),
        arr(vec![]),
        "a missing key answers empty before the member is looked up"
    );
    assert_eq!(
        take_propagated()[1..],
        [
            "GEORADIUS g 15 37 100 km STOREDIST d",
            "GEOSEARCHSTORE d g FROMLONLAT 0 0 BYRADIUS 1 m",
        ]
    );
}

#[test]
fn multi_key_geo_forms_list_their_keys() {
    let spec = crate::cmd::all()
        .find(|c| c.name == "geosearchstore")
        .expect("listed");
    let args: Vec<Bytes> = [
        "GEOSEARCHSTORE",
        "d",
        "s",
        "FROMLONLAT",
        "1",
        "1",
        "BYRADIUS",
        "1",
        "m",
    ]
    .iter()
    .map(|a| Bytes::from(a.to_string()))
    .collect();
    assert_eq!(spec.keys(&args), vec![&args[1], &args[2]]);
}

#[test]
fn georadius_lists_its_store_key() {
    let spec = crate::cmd::all()
        .find(|c| c.name == "georadius")
        .expect("listed");
    let args: Vec<Bytes> = [
        "GEORADIUS",
        "s",
        "1",
        "1",
        "5",
        "km",
        "STORE",
        "a",
        "STOREDIST",
        "b",
    ]
    .iter()
    .map(|a| Bytes::from(a.to_string()))
    .collect();
    assert_eq!(spec.keys(&args), vec![&args[1], &args[9]]);
    assert_eq!(spec.keys(&args[..6]), vec![&args[1]]);
}
