//! The `measurements` layout: one row per test result (PTR, MPR pin, FTR) joined
//! with the context of its part (lot, wafer, part id, site, x/y, bins, pass/fail).
//!
//! Results come before their part's PRR, so they wait per (head, site) until
//! the PRR arrives; memory is bounded by the tests of the parts in flight.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Int16Builder, StringBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::kinds::text;
use crate::records::{Ftr, Mpr, Prr, Ptr, Record};

/// Defaults a test's first PTR/MPR sets for later ones (STDF "default data" rule).
#[derive(Debug, Clone)]
struct TestInfo {
    name: Arc<str>,
    units: Arc<str>,
    lo: Option<f32>,
    hi: Option<f32>,
    pins: Arc<[u16]>,
}

/// One result waiting for its PRR.
#[derive(Debug, Clone)]
struct Pending {
    rec: &'static str,
    test_num: u32,
    name: Arc<str>,
    pin: Option<u16>,
    result: Option<f32>,
    test_flg: Option<u8>,
    lo: Option<f32>,
    hi: Option<f32>,
    units: Arc<str>,
}

/// Part context written on every row of a part.
#[derive(Debug, Default)]
struct PartCtx {
    part_id: Option<String>,
    x: Option<i16>,
    y: Option<i16>,
    hard_bin: Option<u16>,
    soft_bin: Option<u16>,
    passed: Option<bool>,
}

/// Builds the measurements table.
#[derive(Debug)]
pub(crate) struct Measurements {
    lot: Option<String>,
    wafer: HashMap<u8, String>,
    tests: HashMap<(&'static str, u32), TestInfo>,
    sites: Vec<((u8, u8), Vec<Pending>)>,
    empty: Arc<str>,
    cols: Cols,
    pub(crate) rows: usize,
    schema: SchemaRef,
}

#[derive(Debug, Default)]
struct Cols {
    lot_id: StringBuilder,
    wafer_id: StringBuilder,
    part_id: StringBuilder,
    head_num: UInt8Builder,
    site_num: UInt8Builder,
    x_coord: Int16Builder,
    y_coord: Int16Builder,
    hard_bin: UInt16Builder,
    soft_bin: UInt16Builder,
    part_passed: BooleanBuilder,
    rec_type: StringBuilder,
    test_num: UInt32Builder,
    test_name: StringBuilder,
    pin_index: UInt16Builder,
    result: Float32Builder,
    test_passed: BooleanBuilder,
    test_flg: UInt8Builder,
    lo_limit: Float32Builder,
    hi_limit: Float32Builder,
    units: StringBuilder,
}

/// Schema of `measurements.parquet`.
pub fn measurements_schema() -> SchemaRef {
    use DataType::*;
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    Arc::new(Schema::new(vec![
        f("lot_id", Utf8),
        f("wafer_id", Utf8),
        f("part_id", Utf8),
        f("head_num", UInt8),
        f("site_num", UInt8),
        f("x_coord", Int16),
        f("y_coord", Int16),
        f("hard_bin", UInt16),
        f("soft_bin", UInt16),
        f("part_passed", Boolean),
        f("rec_type", Utf8),
        f("test_num", UInt32),
        f("test_name", Utf8),
        f("pin_index", UInt16),
        f("result", Float32),
        f("test_passed", Boolean),
        f("test_flg", UInt8),
        f("lo_limit", Float32),
        f("hi_limit", Float32),
        f("units", Utf8),
    ]))
}

/// Limit after the OPT_FLAG rules: `no_bit` set = no limit, `invalid_bit` set
/// (or the field missing) = the test's default.
fn limit(
    v: Option<f32>,
    opt: Option<u8>,
    invalid_bit: u8,
    no_bit: u8,
    default: Option<f32>,
) -> Option<f32> {
    match opt {
        Some(o) if o & no_bit != 0 => None,
        Some(o) if o & invalid_bit != 0 => default,
        None => default,
        _ => v.or(default),
    }
}

fn flag_passed(flg: Option<u8>, invalid: u8, fail: u8) -> Option<bool> {
    flg.and_then(|f| {
        if f & invalid != 0 {
            None
        } else {
            Some(f & fail == 0)
        }
    })
}

impl Measurements {
    pub(crate) fn new() -> Self {
        Measurements {
            lot: None,
            wafer: HashMap::new(),
            tests: HashMap::new(),
            sites: Vec::new(),
            empty: Arc::from(""),
            cols: Cols::default(),
            rows: 0,
            schema: measurements_schema(),
        }
    }

    fn site(&mut self, head: Option<u8>, site: Option<u8>) -> &mut Vec<Pending> {
        let key = (head.unwrap_or(0), site.unwrap_or(0));
        let i = match self.sites.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.sites.push((key, Vec::new()));
                self.sites.len() - 1
            }
        };
        &mut self.sites[i].1
    }

    #[allow(clippy::too_many_arguments)]
    fn info(
        &mut self,
        rec: &'static str,
        test_num: u32,
        txt: Option<&[u8]>,
        units: Option<&[u8]>,
        lo: Option<f32>,
        hi: Option<f32>,
        pins: Option<&[u16]>,
    ) -> TestInfo {
        let empty = self.empty.clone();
        let e = self
            .tests
            .entry((rec, test_num))
            .or_insert_with(|| TestInfo {
                name: txt.map_or(empty.clone(), |t| Arc::from(text(t).as_ref())),
                units: units.map_or(empty.clone(), |u| Arc::from(text(u).as_ref())),
                lo,
                hi,
                pins: Arc::from(pins.unwrap_or(&[])),
            });
        let mut out = e.clone();
        if let Some(t) = txt.filter(|t| !t.is_empty() && *t != e.name.as_bytes()) {
            out.name = Arc::from(text(t).as_ref());
        }
        if let Some(u) = units.filter(|u| !u.is_empty() && *u != e.units.as_bytes()) {
            out.units = Arc::from(text(u).as_ref());
        }
        out
    }

    /// Feeds one record; returns true when rows were added.
    pub(crate) fn push(&mut self, rec: &Record<'_>) -> bool {
        match rec {
            Record::Mir(m) => self.lot = m.lot_id.map(|l| text(l).into_owned()),
            Record::Wir(w) => {
                self.wafer.insert(
                    w.head_num.unwrap_or(0),
                    w.wafer_id.map(|s| text(s).into_owned()).unwrap_or_default(),
                );
            }
            Record::Pir(p) => self.site(p.head_num, p.site_num).clear(),
            Record::Ptr(p) => self.ptr(p),
            Record::Mpr(m) => self.mpr(m),
            Record::Ftr(f) => self.ftr(f),
            Record::Prr(p) => return self.prr(p),
            _ => {}
        }
        false
    }

    fn ptr(&mut self, p: &Ptr<'_>) {
        let test_num = p.test_num.unwrap_or(0);
        let lo0 = limit(p.lo_limit, p.opt_flag, 0x10, 0x40, None);
        let hi0 = limit(p.hi_limit, p.opt_flag, 0x20, 0x80, None);
        let info = self.info("PTR", test_num, p.test_txt, p.units, lo0, hi0, None);
        let pending = Pending {
            rec: "PTR",
            test_num,
            lo: limit(p.lo_limit, p.opt_flag, 0x10, 0x40, info.lo),
            hi: limit(p.hi_limit, p.opt_flag, 0x20, 0x80, info.hi),
            name: info.name,
            pin: None,
            result: p.result,
            test_flg: p.test_flg,
            units: info.units,
        };
        self.site(p.head_num, p.site_num).push(pending);
    }

    fn mpr(&mut self, m: &Mpr<'_>) {
        let test_num = m.test_num.unwrap_or(0);
        let lo0 = limit(m.lo_limit, m.opt_flag, 0x10, 0x40, None);
        let hi0 = limit(m.hi_limit, m.opt_flag, 0x20, 0x80, None);
        let info = self.info(
            "MPR",
            test_num,
            m.test_txt,
            m.units,
            lo0,
            hi0,
            m.rtn_indx.as_deref(),
        );
        let lo = limit(m.lo_limit, m.opt_flag, 0x10, 0x40, info.lo);
        let hi = limit(m.hi_limit, m.opt_flag, 0x20, 0x80, info.hi);
        let pins: &[u16] = match m.rtn_indx.as_deref() {
            Some(p) if !p.is_empty() => p,
            _ => &info.pins,
        };
        let results = m.rtn_rslt.as_deref().unwrap_or(&[]);
        let mut rows: Vec<Pending> = Vec::with_capacity(results.len().max(1));
        for (i, r) in results.iter().enumerate() {
            rows.push(Pending {
                rec: "MPR",
                test_num,
                name: info.name.clone(),
                pin: pins.get(i).copied(),
                result: Some(*r),
                test_flg: m.test_flg,
                lo,
                hi,
                units: info.units.clone(),
            });
        }
        if results.is_empty() {
            rows.push(Pending {
                rec: "MPR",
                test_num,
                name: info.name.clone(),
                pin: None,
                result: None,
                test_flg: m.test_flg,
                lo,
                hi,
                units: info.units.clone(),
            });
        }
        self.site(m.head_num, m.site_num).extend(rows);
    }

    fn ftr(&mut self, f: &Ftr<'_>) {
        let test_num = f.test_num.unwrap_or(0);
        let info = self.info("FTR", test_num, f.test_txt, None, None, None, None);
        let pending = Pending {
            rec: "FTR",
            test_num,
            name: info.name,
            pin: None,
            result: None,
            test_flg: f.test_flg,
            lo: None,
            hi: None,
            units: info.units,
        };
        self.site(f.head_num, f.site_num).push(pending);
    }

    fn prr(&mut self, p: &Prr<'_>) -> bool {
        let ctx = PartCtx {
            part_id: p.part_id.map(|s| text(s).into_owned()),
            x: p.x_coord,
            y: p.y_coord,
            hard_bin: p.hard_bin,
            soft_bin: p.soft_bin,
            passed: flag_passed(p.part_flg, 0x10, 0x08),
        };
        let key = (p.head_num.unwrap_or(0), p.site_num.unwrap_or(0));
        let Some(i) = self.sites.iter().position(|(k, _)| *k == key) else {
            return false;
        };
        let pending = std::mem::take(&mut self.sites[i].1);
        let added = !pending.is_empty();
        self.emit(key, &ctx, &pending);
        // Hand the allocation back for the next part of this site.
        let mut pending = pending;
        pending.clear();
        self.sites[i].1 = pending;
        added
    }

    fn emit(&mut self, (head, site): (u8, u8), ctx: &PartCtx, rows: &[Pending]) {
        let wafer = self.wafer.get(&head).map(String::as_str);
        let c = &mut self.cols;
        for r in rows {
            c.lot_id.append_option(self.lot.as_deref());
            c.wafer_id.append_option(wafer);
            c.part_id.append_option(ctx.part_id.as_deref());
            c.head_num.append_value(head);
            c.site_num.append_value(site);
            c.x_coord.append_option(ctx.x);
            c.y_coord.append_option(ctx.y);
            c.hard_bin.append_option(ctx.hard_bin);
            c.soft_bin.append_option(ctx.soft_bin);
            c.part_passed.append_option(ctx.passed);
            c.rec_type.append_value(r.rec);
            c.test_num.append_value(r.test_num);
            c.test_name.append_value(&*r.name);
            c.pin_index.append_option(r.pin);
            c.result.append_option(r.result);
            c.test_passed
                .append_option(flag_passed(r.test_flg, 0x40, 0x80));
            c.test_flg.append_option(r.test_flg);
            c.lo_limit.append_option(r.lo);
            c.hi_limit.append_option(r.hi);
            c.units.append_value(&*r.units);
        }
        self.rows += rows.len();
    }

    /// Emits results whose part never got a PRR (input ended mid-part), with no part context.
    pub(crate) fn flush_orphans(&mut self) {
        let sites = std::mem::take(&mut self.sites);
        for (key, rows) in &sites {
            self.emit(*key, &PartCtx::default(), rows);
        }
    }

    /// Finishes the built rows into a batch.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let c = &mut self.cols;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(c.lot_id.finish()),
            Arc::new(c.wafer_id.finish()),
            Arc::new(c.part_id.finish()),
            Arc::new(c.head_num.finish()),
            Arc::new(c.site_num.finish()),
            Arc::new(c.x_coord.finish()),
            Arc::new(c.y_coord.finish()),
            Arc::new(c.hard_bin.finish()),
            Arc::new(c.soft_bin.finish()),
            Arc::new(c.part_passed.finish()),
            Arc::new(c.rec_type.finish()),
            Arc::new(c.test_num.finish()),
            Arc::new(c.test_name.finish()),
            Arc::new(c.pin_index.finish()),
            Arc::new(c.result.finish()),
            Arc::new(c.test_passed.finish()),
            Arc::new(c.test_flg.finish()),
            Arc::new(c.lo_limit.finish()),
            Arc::new(c.hi_limit.finish()),
            Arc::new(c.units.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), cols)
    }
}
