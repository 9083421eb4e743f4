//! Synthetic STDF files of any size, and one record of every type, for scale
//! and round-trip tests.

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::codec::Endian;
use crate::error::Result;
use crate::kinds::{Dn, GenValue};
use crate::records::*;
use crate::writer::StdfWriter;

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Stop after the first part that brings the file to at least this many bytes.
    pub target_bytes: u64,
    /// Byte order.
    pub endian: Endian,
    /// Random seed (same seed, same file).
    pub seed: u64,
    /// PTRs per part (MPR and FTR are added every 10th and 25th test).
    pub tests_per_part: u32,
    /// Test sites per touchdown.
    pub sites: u8,
    /// Parts per wafer.
    pub parts_per_wafer: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            target_bytes: 1 << 20,
            endian: Endian::Little,
            seed: 1,
            tests_per_part: 100,
            sites: 4,
            parts_per_wafer: 2000,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Bytes written.
    pub bytes: u64,
    /// Records written.
    pub records: u64,
    /// Parts (PIR/PRR pairs) written.
    pub parts: u64,
}

/// One record of every decoded type (FAR excluded: the writer adds it), with
/// every V*n code in the GDR, and short records that leave optional trailing
/// fields out.
pub fn every_record_type() -> Vec<Record<'static>> {
    const DN: Dn<'static> = Dn {
        bits: 11,
        data: &[0b1010_0101, 0b0000_0110],
    };
    vec![
        Record::Atr(Atr {
            mod_tim: Some(1_700_000_000),
            cmd_line: Some(b"merge lot.stdf"),
        }),
        Record::Vur(Vur {
            upd_cnt: Some(2),
            upd_nam: Some(vec![b"V4", b"2007.1"]),
        }),
        Record::Mir(Mir {
            setup_t: Some(1_700_000_000),
            start_t: Some(1_700_000_100),
            stat_num: Some(3),
            mode_cod: Some(b'P'),
            rtst_cod: Some(b' '),
            prot_cod: Some(b' '),
            burn_tim: Some(65535),
            cmod_cod: Some(b' '),
            lot_id: Some(b"LOT42"),
            part_typ: Some(b"CHIP-A"),
            node_nam: Some(b"tester01"),
            tstr_typ: Some(b"T2000"),
            job_nam: Some(b"prog"),
            job_rev: Some(b"1.0"),
            sblot_id: Some(b"S1"),
            oper_nam: Some(b"op"),
            ..Default::default()
        }),
        Record::Sdr(Sdr {
            head_num: Some(1),
            site_grp: Some(1),
            site_cnt: Some(4),
            site_num: Some(vec![0, 1, 2, 3]),
            hand_typ: Some(b"handler"),
            ..Default::default()
        }),
        Record::Pmr(Pmr {
            pmr_indx: Some(1),
            chan_typ: Some(0),
            chan_nam: Some(b"CH1"),
            phy_nam: Some(b"P1"),
            log_nam: Some(b"VDD"),
            head_num: Some(1),
            site_num: Some(0),
        }),
        Record::Pgr(Pgr {
            grp_indx: Some(32768),
            grp_nam: Some(b"ALL"),
            indx_cnt: Some(3),
            pmr_indx: Some(vec![1, 2, 3]),
        }),
        Record::Plr(Plr {
            grp_cnt: Some(2),
            grp_indx: Some(vec![1, 32768]),
            grp_mode: Some(vec![0, 0x20]),
            grp_radx: Some(vec![0, 2]),
            pgm_char: Some(vec![b"H", b"L"]),
            rtn_char: Some(vec![b"1", b"0"]),
            pgm_chal: Some(vec![b"", b""]),
            rtn_chal: Some(vec![b"", b"x"]),
        }),
        Record::Rdr(Rdr {
            num_bins: Some(2),
            rtst_bin: Some(vec![5, 7]),
        }),
        Record::Psr(Psr {
            cont_flg: Some(0),
            psr_indx: Some(1),
            psr_nam: Some(b"seq"),
            opt_flg: Some(0),
            totp_cnt: Some(1),
            locp_cnt: Some(1),
            pat_bgn: Some(vec![0]),
            pat_end: Some(vec![u64::MAX]),
            pat_file: Some(vec![b"a.pat"]),
            pat_lbl: Some(vec![b"L"]),
            file_uid: Some(vec![b"u"]),
            atpg_dsc: Some(vec![b"d"]),
            src_id: Some(vec![b"s"]),
        }),
        Record::Nmr(Nmr {
            cont_flg: Some(0),
            totm_cnt: Some(1),
            locm_cnt: Some(1),
            pmr_indx: Some(vec![1]),
            atpg_nam: Some(vec![b"n1"]),
        }),
        Record::Cnr(Cnr {
            chn_num: Some(1),
            bit_pos: Some(9),
            cell_nam: Some(b"cell_a"),
        }),
        Record::Ssr(Ssr {
            ssr_nam: Some(b"scan"),
            chn_cnt: Some(2),
            chn_list: Some(vec![1, 2]),
        }),
        Record::Cdr(Cdr {
            cont_flg: Some(0),
            cdr_indx: Some(1),
            chn_nam: Some(b"c"),
            chn_len: Some(100),
            sin_pin: Some(1),
            sout_pin: Some(2),
            mstr_cnt: Some(1),
            m_clks: Some(vec![3]),
            slav_cnt: Some(0),
            s_clks: Some(vec![]),
            inv_val: Some(0),
            lst_cnt: Some(2),
            cell_lst: Some(vec![b"x", b"yy"]),
        }),
        Record::Wcr(Wcr {
            wafr_siz: Some(300.0),
            die_ht: Some(1.5),
            die_wid: Some(2.25),
            wf_units: Some(3),
            wf_flat: Some(b'D'),
            center_x: Some(-1),
            center_y: Some(2),
            pos_x: Some(b'R'),
            pos_y: Some(b'U'),
        }),
        Record::Wir(Wir {
            head_num: Some(1),
            site_grp: Some(255),
            start_t: Some(5),
            wafer_id: Some(b"W01"),
        }),
        Record::Bps(Bps {
            seq_name: Some(b"main"),
        }),
        Record::Pir(Pir {
            head_num: Some(1),
            site_num: Some(0),
        }),
        Record::Ptr(Ptr {
            test_num: Some(100),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0),
            parm_flg: Some(0xC0),
            result: Some(1.25),
            test_txt: Some(b"vdd leakage"),
            alarm_id: Some(b""),
            opt_flag: Some(0x02),
            res_scal: Some(-3),
            llm_scal: Some(0),
            hlm_scal: Some(0),
            lo_limit: Some(-1.0),
            hi_limit: Some(2.0),
            units: Some(b"A"),
            c_resfmt: Some(b"%7.3f"),
            c_llmfmt: Some(b""),
            c_hlmfmt: Some(b""),
            lo_spec: Some(f32::MIN_POSITIVE),
            hi_spec: Some(f32::INFINITY),
        }),
        // A later PTR of the same test leaving the optional fields out.
        Record::Ptr(Ptr {
            test_num: Some(100),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0x80),
            parm_flg: Some(0),
            result: Some(3.5),
            ..Default::default()
        }),
        Record::Mpr(Mpr {
            test_num: Some(200),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0),
            parm_flg: Some(0),
            rtn_icnt: Some(3),
            rslt_cnt: Some(3),
            rtn_stat: Some(vec![1, 15, 4]),
            rtn_rslt: Some(vec![0.5, -0.25, 1e10]),
            test_txt: Some(b"multi"),
            alarm_id: Some(b""),
            opt_flag: Some(0),
            res_scal: Some(0),
            llm_scal: Some(0),
            hlm_scal: Some(0),
            lo_limit: Some(0.0),
            hi_limit: Some(1.0),
            start_in: Some(0.0),
            incr_in: Some(0.1),
            rtn_indx: Some(vec![1, 2, 3]),
            units: Some(b"V"),
            units_in: Some(b"V"),
            c_resfmt: Some(b""),
            c_llmfmt: Some(b""),
            c_hlmfmt: Some(b""),
            lo_spec: Some(0.0),
            hi_spec: Some(1.0),
        }),
        Record::Mpr(Mpr {
            test_num: Some(200),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0),
            parm_flg: Some(0),
            rtn_icnt: Some(0),
            rslt_cnt: Some(2),
            rtn_stat: Some(vec![]),
            rtn_rslt: Some(vec![7.0, 8.0]),
            ..Default::default()
        }),
        Record::Ftr(Ftr {
            test_num: Some(300),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0x80),
            opt_flag: Some(0),
            cycl_cnt: Some(10),
            rel_vadr: Some(2),
            rept_cnt: Some(1),
            num_fail: Some(1),
            xfail_ad: Some(-5),
            yfail_ad: Some(6),
            vect_off: Some(-1),
            rtn_icnt: Some(3),
            pgm_icnt: Some(2),
            rtn_indx: Some(vec![1, 2, 3]),
            rtn_stat: Some(vec![1, 2, 3]),
            pgm_indx: Some(vec![4, 5]),
            pgm_stat: Some(vec![9, 10]),
            fail_pin: Some(DN),
            vect_nam: Some(b"v"),
            time_set: Some(b"t"),
            op_code: Some(b"o"),
            test_txt: Some(b"func"),
            alarm_id: Some(b""),
            prog_txt: Some(b"p"),
            rslt_txt: Some(b"r"),
            patg_num: Some(255),
            spin_map: Some(Dn { bits: 0, data: &[] }),
        }),
        Record::Ftr(Ftr {
            test_num: Some(300),
            head_num: Some(1),
            site_num: Some(0),
            test_flg: Some(0),
            ..Default::default()
        }),
        Record::Gdr(Gdr {
            fld_cnt: Some(13),
            gen_data: Some(vec![
                GenValue::U1(7),
                GenValue::Pad,
                GenValue::U2(65535),
                GenValue::U4(u32::MAX),
                GenValue::I1(-8),
                GenValue::I2(-300),
                GenValue::I4(i32::MIN),
                GenValue::R4(-0.5),
                GenValue::R8(1e300),
                GenValue::Cn(b"gen text"),
                GenValue::Bn(&[1, 2, 255]),
                GenValue::Dn(DN),
                GenValue::N1(0xA),
            ]),
        }),
        Record::Dtr(Dtr {
            text_dat: Some(b"datalog text"),
        }),
        Record::Prr(Prr {
            head_num: Some(1),
            site_num: Some(0),
            part_flg: Some(0x08),
            num_test: Some(5),
            hard_bin: Some(2),
            soft_bin: Some(20),
            x_coord: Some(-3),
            y_coord: Some(4),
            test_t: Some(1234),
            part_id: Some(b"1"),
            part_txt: Some(b""),
            part_fix: Some(&[0xde, 0xad]),
        }),
        Record::Eps(Eps {}),
        Record::Wrr(Wrr {
            head_num: Some(1),
            site_grp: Some(255),
            finish_t: Some(9),
            part_cnt: Some(1),
            rtst_cnt: Some(0),
            abrt_cnt: Some(0),
            good_cnt: Some(0),
            func_cnt: Some(0),
            wafer_id: Some(b"W01"),
            ..Default::default()
        }),
        Record::Tsr(Tsr {
            head_num: Some(255),
            site_num: Some(0),
            test_typ: Some(b'P'),
            test_num: Some(100),
            exec_cnt: Some(2),
            fail_cnt: Some(1),
            alrm_cnt: Some(0),
            test_nam: Some(b"vdd leakage"),
            seq_name: Some(b""),
            test_lbl: Some(b""),
            opt_flag: Some(0xC0),
            test_tim: Some(0.001),
            test_min: Some(1.25),
            test_max: Some(3.5),
            tst_sums: Some(4.75),
            tst_sqrs: Some(13.8125),
        }),
        Record::Hbr(Hbr {
            head_num: Some(255),
            site_num: Some(0),
            hbin_num: Some(2),
            hbin_cnt: Some(1),
            hbin_pf: Some(b'F'),
            hbin_nam: Some(b"fail"),
        }),
        Record::Sbr(Sbr {
            head_num: Some(255),
            site_num: Some(0),
            sbin_num: Some(20),
            sbin_cnt: Some(1),
            sbin_pf: Some(b'F'),
            sbin_nam: None,
        }),
        Record::Pcr(Pcr {
            head_num: Some(255),
            site_num: Some(0),
            part_cnt: Some(1),
            rtst_cnt: Some(0),
            abrt_cnt: Some(0),
            good_cnt: Some(0),
            func_cnt: Some(0),
        }),
        Record::Mrr(Mrr {
            finish_t: Some(1_700_001_000),
            disp_cod: Some(b' '),
            usr_desc: None,
            exc_desc: None,
        }),
    ]
}

/// Writes a synthetic lot: header records, wafers of parts (PIR, PTR/MPR/FTR
/// results, PRR per site), summaries and an MRR, stopping once `target_bytes`
/// is reached.
pub fn generate<W: Write>(out: W, opts: &GenOptions) -> Result<GenStats> {
    let mut w = StdfWriter::new(out, opts.endian);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    w.write_far()?;
    for r in every_record_type().iter().take(16) {
        if !matches!(r, Record::Wir(_) | Record::Bps(_)) {
            w.write(r)?;
        }
    }
    let tests = opts.tests_per_part.max(1);
    let names: Vec<String> = (0..tests)
        .map(|t| {
            format!(
                "test_{t}_{}",
                ["vdd", "idd", "leak", "freq"][t as usize % 4]
            )
        })
        .collect();
    let sites = opts.sites.max(1);
    let mut parts: u64 = 0;
    let mut wafer = 0u32;
    let mut fails = vec![0u32; tests as usize];
    let mut part_id = String::new();
    let mut wafer_id = String::new();
    'lot: loop {
        wafer += 1;
        wafer_id.clear();
        wafer_id.push_str(&format!("W{wafer:02}"));
        w.write(&Record::Wir(Wir {
            head_num: Some(1),
            site_grp: Some(255),
            start_t: Some(wafer),
            wafer_id: Some(wafer_id.as_bytes()),
        }))?;
        let mut in_wafer = 0u32;
        while in_wafer < opts.parts_per_wafer {
            for site in 0..sites {
                w.write(&Record::Pir(Pir {
                    head_num: Some(1),
                    site_num: Some(site),
                }))?;
            }
            for site in 0..sites {
                let mut failed = false;
                for t in 0..tests {
                    let result: f32 = rng.random_range(-1.0..1.0);
                    let fail = result > 0.98;
                    failed |= fail;
                    if fail {
                        fails[t as usize] += 1;
                    }
                    let first = parts < u64::from(sites);
                    let flg = if fail { 0x80 } else { 0 };
                    let ptr = if first {
                        Ptr {
                            test_num: Some(t),
                            head_num: Some(1),
                            site_num: Some(site),
                            test_flg: Some(flg),
                            parm_flg: Some(0),
                            result: Some(result),
                            test_txt: Some(names[t as usize].as_bytes()),
                            alarm_id: Some(b""),
                            opt_flag: Some(0x0e),
                            res_scal: Some(0),
                            llm_scal: Some(0),
                            hlm_scal: Some(0),
                            lo_limit: Some(-1.0),
                            hi_limit: Some(0.98),
                            units: Some(b"V"),
                            ..Default::default()
                        }
                    } else {
                        Ptr {
                            test_num: Some(t),
                            head_num: Some(1),
                            site_num: Some(site),
                            test_flg: Some(flg),
                            parm_flg: Some(0),
                            result: Some(result),
                            test_txt: Some(names[t as usize].as_bytes()),
                            ..Default::default()
                        }
                    };
                    w.write(&Record::Ptr(ptr))?;
                    if t % 10 == 9 {
                        let r: Vec<f32> = (0..4).map(|_| rng.random_range(0.0..5.0)).collect();
                        w.write(&Record::Mpr(Mpr {
                            test_num: Some(10_000 + t),
                            head_num: Some(1),
                            site_num: Some(site),
                            test_flg: Some(0),
                            parm_flg: Some(0),
                            rtn_icnt: Some(4),
                            rslt_cnt: Some(4),
                            rtn_stat: Some(vec![0, 1, 0, 1]),
                            rtn_rslt: Some(r),
                            test_txt: Some(b"pins"),
                            alarm_id: Some(b""),
                            opt_flag: Some(0x0e),
                            res_scal: Some(0),
                            llm_scal: Some(0),
                            hlm_scal: Some(0),
                            lo_limit: Some(0.0),
                            hi_limit: Some(5.0),
                            start_in: Some(0.0),
                            incr_in: Some(0.0),
                            rtn_indx: Some(vec![1, 2, 3, 4]),
                            units: Some(b"V"),
                            ..Default::default()
                        }))?;
                    }
                    if t % 25 == 24 {
                        w.write(&Record::Ftr(Ftr {
                            test_num: Some(20_000 + t),
                            head_num: Some(1),
                            site_num: Some(site),
                            test_flg: Some(0),
                            opt_flag: Some(0xff),
                            test_txt: Some(b"functional"),
                            ..Default::default()
                        }))?;
                    }
                }
                parts += 1;
                part_id.clear();
                part_id.push_str(&parts.to_string());
                let (hard, soft) = if failed { (2u16, 20u16) } else { (1, 1) };
                w.write(&Record::Prr(Prr {
                    head_num: Some(1),
                    site_num: Some(site),
                    part_flg: Some(if failed { 0x08 } else { 0 }),
                    num_test: Some(tests.min(65535) as u16),
                    hard_bin: Some(hard),
                    soft_bin: Some(soft),
                    x_coord: Some((in_wafer % 100) as i16),
                    y_coord: Some((in_wafer / 100) as i16),
                    test_t: Some(rng.random_range(10..500)),
                    part_id: Some(part_id.as_bytes()),
                    part_txt: Some(b""),
                    part_fix: Some(&[]),
                }))?;
                in_wafer += 1;
            }
            if w.bytes_written() >= opts.target_bytes {
                w.write(&Record::Wrr(Wrr {
                    head_num: Some(1),
                    site_grp: Some(255),
                    finish_t: Some(wafer),
                    part_cnt: Some(in_wafer),
                    wafer_id: Some(wafer_id.as_bytes()),
                    ..Default::default()
                }))?;
                break 'lot;
            }
        }
        w.write(&Record::Wrr(Wrr {
            head_num: Some(1),
            site_grp: Some(255),
            finish_t: Some(wafer),
            part_cnt: Some(in_wafer),
            wafer_id: Some(wafer_id.as_bytes()),
            ..Default::default()
        }))?;
    }
    for (t, name) in names.iter().enumerate() {
        w.write(&Record::Tsr(Tsr {
            head_num: Some(255),
            site_num: Some(0),
            test_typ: Some(b'P'),
            test_num: Some(t as u32),
            exec_cnt: Some(parts.min(u64::from(u32::MAX)) as u32),
            fail_cnt: Some(fails[t]),
            alrm_cnt: Some(0),
            test_nam: Some(name.as_bytes()),
            ..Default::default()
        }))?;
    }
    for r in every_record_type().iter().filter(|r| {
        matches!(
            r,
            Record::Hbr(_) | Record::Sbr(_) | Record::Pcr(_) | Record::Gdr(_) | Record::Dtr(_)
        )
    }) {
        w.write(r)?;
    }
    w.write(&Record::Mrr(Mrr {
        finish_t: Some(1_700_009_999),
        disp_cod: Some(b' '),
        ..Default::default()
    }))?;
    let stats = GenStats {
        bytes: w.bytes_written(),
        records: w.records_written(),
        parts,
    };
    w.finish()?;
    Ok(stats)
}
