//! Geohash arithmetic as Redis does it: 26 bits of latitude and 26 of longitude interleaved
//! into a 52-bit integer (the sorted-set score), latitude limited to ±85.05112878 (the
//! Web Mercator square), distances on a sphere of radius 6372797.560856 m, and the 9 boxes
//! (a cell and its 8 neighbours) a search walks.

/// Longitude and latitude limits of an indexable point.
pub(super) const LONG_MIN: f64 = -180.0;
pub(super) const LONG_MAX: f64 = 180.0;
pub(super) const LAT_MIN: f64 = -85.05112878;
pub(super) const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored score.
pub(super) const STEP_MAX: u8 = 26;

const EARTH_RADIUS_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;

/// A cell: its interleaved bits and how many bits per coordinate it has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Cell {
    pub bits: u64,
    pub step: u8,
}

/// A cell's extent in degrees.
#[derive(Clone, Copy, Debug)]
pub(super) struct Area {
    pub long_min: f64,
    pub long_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

/// Spreads the low 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    for (shift, mask) in [
        (16, 0x0000_FFFF_0000_FFFF),
        (8, 0x00FF_00FF_00FF_00FF),
        (4, 0x0F0F_0F0F_0F0F_0F0F),
        (2, 0x3333_3333_3333_3333),
        (1, 0x5555_5555_5555_5555),
    ] {
        x = (x | (x << shift)) & mask;
    }
    x
}

/// Gathers the even bit positions of `x` into 32 bits.
fn gather(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    for (shift, mask) in [
        (1, 0x3333_3333_3333_3333),
        (2, 0x0F0F_0F0F_0F0F_0F0F),
        (4, 0x00FF_00FF_00FF_00FF),
        (8, 0x0000_FFFF_0000_FFFF),
        (16, 0x0000_0000_FFFF_FFFF),
    ] {
        x = (x | (x >> shift)) & mask;
    }
    x as u32
}

/// The cell of `step` bits per coordinate holding a point, within the given latitude range
/// (Redis's ±85.05… for scores, ±90 for GEOHASH strings); `None` outside.
pub(super) fn encode(long: f64, lat: f64, step: u8, lat_range: (f64, f64)) -> Option<Cell> {
    let (lat_min, lat_max) = lat_range;
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if !(lat_min..=lat_max).contains(&lat) {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_min) / (lat_max - lat_min) * scale;
    let long_offset = (long - LONG_MIN) / (LONG_MAX - LONG_MIN) * scale;
    // Truncation to u32, as C's conversion does.
    let bits = spread(lat_offset as u32) | (spread(long_offset as u32) << 1);
    Some(Cell { bits, step })
}

/// The cell of a stored point.
pub(super) fn encode_score(long: f64, lat: f64) -> Option<Cell> {
    encode(long, lat, STEP_MAX, (LAT_MIN, LAT_MAX))
}

/// A cell's bits placed as the 52-bit score of its first point.
pub(super) fn align52(cell: Cell) -> u64 {
    cell.bits << (52 - 2 * u32::from(cell.step))
}

/// A cell's extent (Redis's `geohashDecode` over its coordinate ranges).
pub(super) fn decode(cell: Cell) -> Area {
    let (lat_cells, long_cells) = (gather(cell.bits), gather(cell.bits >> 1));
    let scale = (1u64 << cell.step) as f64;
    let at = |min: f64, span: f64, n: u32| min + (f64::from(n) / scale) * span;
    let lat_span = LAT_MAX - LAT_MIN;
    let long_span = LONG_MAX - LONG_MIN;
    Area {
        lat_min: at(LAT_MIN, lat_span, lat_cells),
        lat_max: LAT_MIN + ((f64::from(lat_cells) + 1.0) / scale) * lat_span,
        long_min: at(LONG_MIN, long_span, long_cells),
        long_max: LONG_MIN + ((f64::from(long_cells) + 1.0) / scale) * long_span,
    }
}

/// A stored score's point: the centre of its cell, `[longitude, latitude]`.
pub(super) fn decode_score(score: f64) -> [f64; 2] {
    let area = decode(Cell {
        bits: score as u64,
        step: STEP_MAX,
    });
    let long = ((area.long_min + area.long_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat_min + area.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [long, lat]
}

/// Moves a cell by one along longitude (odd bits, `along_long`) or latitude (even bits).
fn moved(cell: Cell, delta: i8, along_long: bool) -> Cell {
    if delta == 0 {
        return cell;
    }
    let (odd, even) = (0xaaaa_aaaa_aaaa_aaaa_u64, 0x5555_5555_5555_5555_u64);
    let (moving_mask, fixed_mask, fill_mask) = if along_long {
        (odd, even, even)
    } else {
        (even, odd, odd)
    };
    let width = 64 - 2 * u32::from(cell.step);
    let mut moving = cell.bits & moving_mask;
    let fixed = cell.bits & fixed_mask;
    let fill = fill_mask >> width;
    if delta > 0 {
        moving = moving.wrapping_add(fill + 1);
    } else {
        moving = (moving | fill).wrapping_sub(fill + 1);
    }
    moving &= moving_mask >> width;
    Cell {
        bits: moving | fixed,
        step: cell.step,
    }
}

/// The cell and its 8 neighbours in the order a search walks them: the cell, north, south,
/// east, west, north-east, north-west, south-east, south-west.
pub(super) fn nine(cell: Cell) -> [Cell; 9] {
    let at = |dx: i8, dy: i8| moved(moved(cell, dx, true), dy, false);
    [
        cell,
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

fn rad(degrees: f64) -> f64 {
    degrees * DEG_TO_RAD
}

fn deg(radians: f64) -> f64 {
    radians / DEG_TO_RAD
}

/// Distance along a meridian.
pub(super) fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_METERS * (rad(lat2) - rad(lat1)).abs()
}

/// Great-circle distance (haversine) between two points, in meters.
pub(super) fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let v = ((rad(long2) - rad(long1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let u = ((rad(lat2) - rad(lat1)) / 2.0).sin();
    let a = u * u + rad(lat1).cos() * rad(lat2).cos() * v * v;
    2.0 * EARTH_RADIUS_METERS * a.sqrt().asin()
}

/// Bits per coordinate of the cells a search of this radius walks.
fn steps_for_radius(radius_m: f64, lat: f64) -> u8 {
    if radius_m == 0.0 {
        return STEP_MAX;
    }
    let (mut range, mut step) = (radius_m, 1i32);
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// The search shape in its unit (`conversion` meters each): a circle or a box.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub kind: ShapeKind,
    pub conversion: f64,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// `[min long, min lat, max long, max lat]` around a centre.
fn bounding_box(long: f64, lat: f64, shape: Shape) -> [f64; 4] {
    let (half_height, half_width) = match shape.kind {
        ShapeKind::Radius(r) => (r, r),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let (height, width) = (
        shape.conversion * half_height,
        shape.conversion * half_width,
    );
    let lat_delta = deg(height / EARTH_RADIUS_METERS);
    let long_delta_top = deg(width / EARTH_RADIUS_METERS / rad(lat + lat_delta).cos());
    let long_delta_bottom = deg(width / EARTH_RADIUS_METERS / rad(lat - lat_delta).cos());
    let long_delta = if lat < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        long - long_delta,
        lat - lat_delta,
        long + long_delta,
        lat + lat_delta,
    ]
}

/// The cells a search around `(long, lat)` walks, in order; `None` for a box left out.
pub(super) fn search_cells(long: f64, lat: f64, shape: Shape) -> [Option<Cell>; 9] {
    let [min_long, min_lat, max_long, max_lat] = bounding_box(long, lat, shape);
    let radius = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    };
    let mut step = steps_for_radius(radius * shape.conversion, lat);
    let cell_at = |step| encode(long, lat, step, (LAT_MIN, LAT_MAX)).expect("a valid centre");
    let mut cells = nine(cell_at(step));
    let [north, south, east, west] = [1, 2, 3, 4].map(|i| decode(cells[i]));
    let too_small = north.lat_max < max_lat
        || south.lat_min > min_lat
        || east.long_max < max_long
        || west.long_min > min_long;
    if step > 1 && too_small {
        step -= 1;
        cells = nine(cell_at(step));
    }
    let mut keep = [true; 9];
    if step >= 2 {
        let area = decode(cells[0]);
        let mut drop = |which: &[usize]| which.iter().for_each(|&i| keep[i] = false);
        if area.lat_min < min_lat {
            drop(&[2, 8, 7]);
        }
        if area.lat_max > max_lat {
            drop(&[1, 5, 6]);
        }
        if area.long_min < min_long {
            drop(&[4, 8, 6]);
        }
        if area.long_max > max_long {
            drop(&[3, 7, 5]);
        }
    }
    let mut out = [None; 9];
    for i in 0..9 {
        out[i] = keep[i].then_some(cells[i]);
    }
    out
}

/// Whether a point lies in the shape around the centre; its distance from the centre if so.
pub(super) fn within(center: [f64; 2], point: [f64; 2], shape: Shape) -> Option<f64> {
    let [cx, cy] = center;
    let [x, y] = point;
    let conversion = shape.conversion;
    match shape.kind {
        ShapeKind::Radius(r) => Some(distance(cx, cy, x, y)).filter(|&d| d <= r * conversion),
        ShapeKind::Box { width, height } => {
            let (width, height) = (width * conversion, height * conversion);
            if lat_distance(y, cy) > height / 2.0 || distance(x, y, cx, y) > width / 2.0 {
                return None;
            }
            Some(distance(cx, cy, x, y))
        }
    }
}

/// The standard 11-character geohash of a stored score (re-encoded over ±90° latitude).
pub(super) fn geohash_text(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [long, lat] = decode_score(score);
    let bits = encode(long, lat, STEP_MAX, (-90.0, 90.0)).map_or(0, |c| c.bits);
    (0..11)
        .map(|i| {
            let index = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            ALPHABET[index as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_positions_match_redis() {
        // Palermo, from redis-server 7.0.15's GEOADD, ZSCORE, GEOPOS and GEOHASH.
        let cell = encode_score(13.361389, 38.115556).expect("valid");
        assert_eq!(align52(cell), 3479099956230698);
        let [long, lat] = decode_score(3479099956230698.0);
        assert_eq!(format!("{long:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(geohash_text(3479099956230698.0), "sqc8b49rny0");
        let catania = align52(encode_score(15.087269, 37.502669).expect("valid")) as f64;
        let [x2, y2] = decode_score(catania);
        assert_eq!(format!("{:.4}", distance(long, lat, x2, y2)), "166274.1516");
        assert!(encode_score(200.0, 0.0).is_none());
    }

    #[test]
    fn neighbours_wrap_and_step() {
        let cell = Cell {
            bits: 0b1001,
            step: 2,
        };
        let [center, north, .., south_west] = nine(cell);
        assert_eq!(center, cell);
        assert_eq!(
            gather(north.bits),
            gather(cell.bits) + 1,
            "north adds a latitude cell"
        );
        assert_eq!(gather(south_west.bits >> 1), gather(cell.bits >> 1) - 1);
    }
}
