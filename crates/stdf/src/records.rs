//! Every STDF V4 record type (plus the V4-2007 additions VUR, PSR, NMR, CNR, SSR, CDR).
//!
//! Field types follow the STDF V4 specification. Each field is an `Option`: a
//! record may stop after any field, and the fields it leaves out are `None`.
//! kxTYPE arrays hold `k` elements, where `k` is the earlier count field.

use crate::codec::{DecodeErr, Endian};
use crate::error::StdfError;

/// A record as framed in the file: header plus undecoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Byte offset of the record header in the (decompressed) input.
    pub offset: u64,
    /// REC_TYP.
    pub typ: u8,
    /// REC_SUB.
    pub sub: u8,
    /// The REC_LEN bytes after the header.
    pub body: &'a [u8],
}

impl<'a> RawRecord<'a> {
    /// Decodes the body.
    pub fn decode(&self, endian: Endian) -> crate::Result<Record<'a>> {
        Record::decode(self, endian)
    }
}

/// Decoding of one record body.
pub(crate) trait Decode<'a>: Sized {
    fn decode(
        c: &mut crate::codec::Cursor<'a>,
        strict: bool,
    ) -> Result<Self, (&'static str, DecodeErr)>;
}

pub(crate) fn field_error(
    raw: &RawRecord<'_>,
    rec: &'static str,
    field: &'static str,
    e: DecodeErr,
) -> StdfError {
    match e {
        DecodeErr::Overrun => StdfError::FieldOverrun {
            offset: raw.offset,
            rec,
            field,
            len: raw.body.len() as u16,
        },
        DecodeErr::Trailing { extra } => StdfError::TrailingBytes {
            offset: raw.offset,
            rec,
            extra,
            len: raw.body.len() as u16,
        },
        DecodeErr::BadGdrCode { index, code } => StdfError::BadGdrCode {
            offset: raw.offset,
            index,
            code,
        },
    }
}

/// Name of a record type by (REC_TYP, REC_SUB), or `typ/sub` for unknown ones.
pub fn type_name(typ: u8, sub: u8) -> String {
    match RECORD_TYPES.iter().find(|(t, s, _)| *t == typ && *s == sub) {
        Some((_, _, n)) => (*n).to_string(),
        None => format!("{typ}/{sub}"),
    }
}

/// (REC_TYP, REC_SUB, name) of every decoded type.
pub const RECORD_TYPES: &[(u8, u8, &str)] = &[
    (0, 10, "FAR"),
    (0, 20, "ATR"),
    (0, 30, "VUR"),
    (1, 10, "MIR"),
    (1, 20, "MRR"),
    (1, 30, "PCR"),
    (1, 40, "HBR"),
    (1, 50, "SBR"),
    (1, 60, "PMR"),
    (1, 62, "PGR"),
    (1, 63, "PLR"),
    (1, 70, "RDR"),
    (1, 80, "SDR"),
    (1, 90, "PSR"),
    (1, 91, "NMR"),
    (1, 92, "CNR"),
    (1, 93, "SSR"),
    (1, 94, "CDR"),
    (2, 10, "WIR"),
    (2, 20, "WRR"),
    (2, 30, "WCR"),
    (5, 10, "PIR"),
    (5, 20, "PRR"),
    (10, 30, "TSR"),
    (15, 10, "PTR"),
    (15, 15, "MPR"),
    (15, 20, "FTR"),
    (20, 10, "BPS"),
    (20, 20, "EPS"),
    (50, 10, "GDR"),
    (50, 30, "DTR"),
];

define_records! {
    /// File Attributes Record: CPU type (byte order) and STDF version.
    Far, FarCols = (0, 10, "FAR") { cpu_type: U1, stdf_ver: U1 }
    /// Audit Trail Record.
    Atr<'a>, AtrCols = (0, 20, "ATR") { mod_tim: U4, cmd_line: Cn }
    /// Version Update Record (V4-2007).
    Vur<'a>, VurCols = (0, 30, "VUR") { upd_cnt: U1, upd_nam: [Cn; upd_cnt] }
    /// Master Information Record.
    Mir<'a>, MirCols = (1, 10, "MIR") {
        setup_t: U4, start_t: U4, stat_num: U1, mode_cod: C1, rtst_cod: C1, prot_cod: C1,
        burn_tim: U2, cmod_cod: C1, lot_id: Cn, part_typ: Cn, node_nam: Cn, tstr_typ: Cn,
        job_nam: Cn, job_rev: Cn, sblot_id: Cn, oper_nam: Cn, exec_typ: Cn, exec_ver: Cn,
        test_cod: Cn, tst_temp: Cn, user_txt: Cn, aux_file: Cn, pkg_typ: Cn, famly_id: Cn,
        date_cod: Cn, facil_id: Cn, floor_id: Cn, proc_id: Cn, oper_frq: Cn, spec_nam: Cn,
        spec_ver: Cn, flow_id: Cn, setup_id: Cn, dsgn_rev: Cn, eng_id: Cn, rom_cod: Cn,
        serl_num: Cn, supr_nam: Cn,
    }
    /// Master Results Record.
    Mrr<'a>, MrrCols = (1, 20, "MRR") { finish_t: U4, disp_cod: C1, usr_desc: Cn, exc_desc: Cn }
    /// Part Count Record.
    Pcr, PcrCols = (1, 30, "PCR") {
        head_num: U1, site_num: U1, part_cnt: U4, rtst_cnt: U4, abrt_cnt: U4, good_cnt: U4, func_cnt: U4,
    }
    /// Hardware Bin Record.
    Hbr<'a>, HbrCols = (1, 40, "HBR") {
        head_num: U1, site_num: U1, hbin_num: U2, hbin_cnt: U4, hbin_pf: C1, hbin_nam: Cn,
    }
    /// Software Bin Record.
    Sbr<'a>, SbrCols = (1, 50, "SBR") {
        head_num: U1, site_num: U1, sbin_num: U2, sbin_cnt: U4, sbin_pf: C1, sbin_nam: Cn,
    }
    /// Pin Map Record.
    Pmr<'a>, PmrCols = (1, 60, "PMR") {
        pmr_indx: U2, chan_typ: U2, chan_nam: Cn, phy_nam: Cn, log_nam: Cn, head_num: U1, site_num: U1,
    }
    /// Pin Group Record.
    Pgr<'a>, PgrCols = (1, 62, "PGR") { grp_indx: U2, grp_nam: Cn, indx_cnt: U2, pmr_indx: [U2; indx_cnt] }
    /// Pin List Record.
    Plr<'a>, PlrCols = (1, 63, "PLR") {
        grp_cnt: U2, grp_indx: [U2; grp_cnt], grp_mode: [U2; grp_cnt], grp_radx: [U1; grp_cnt],
        pgm_char: [Cn; grp_cnt], rtn_char: [Cn; grp_cnt], pgm_chal: [Cn; grp_cnt], rtn_chal: [Cn; grp_cnt],
    }
    /// Retest Data Record.
    Rdr, RdrCols = (1, 70, "RDR") { num_bins: U2, rtst_bin: [U2; num_bins] }
    /// Site Description Record.
    Sdr<'a>, SdrCols = (1, 80, "SDR") {
        head_num: U1, site_grp: U1, site_cnt: U1, site_num: [U1; site_cnt], hand_typ: Cn, hand_id: Cn,
        card_typ: Cn, card_id: Cn, load_typ: Cn, load_id: Cn, dib_typ: Cn, dib_id: Cn, cabl_typ: Cn,
        cabl_id: Cn, cont_typ: Cn, cont_id: Cn, lasr_typ: Cn, lasr_id: Cn, extr_typ: Cn, extr_id: Cn,
    }
    /// Pattern Sequence Record (V4-2007).
    Psr<'a>, PsrCols = (1, 90, "PSR") {
        cont_flg: B1, psr_indx: U2, psr_nam: Cn, opt_flg: B1, totp_cnt: U2, locp_cnt: U2,
        pat_bgn: [U8; locp_cnt], pat_end: [U8; locp_cnt], pat_file: [Cn; locp_cnt],
        pat_lbl: [Cn; locp_cnt], file_uid: [Cn; locp_cnt], atpg_dsc: [Cn; locp_cnt], src_id: [Cn; locp_cnt],
    }
    /// Name Map Record (V4-2007).
    Nmr<'a>, NmrCols = (1, 91, "NMR") {
        cont_flg: B1, totm_cnt: U2, locm_cnt: U2, pmr_indx: [U2; locm_cnt], atpg_nam: [Cn; locm_cnt],
    }
    /// Cell Name Record (V4-2007).
    Cnr<'a>, CnrCols = (1, 92, "CNR") { chn_num: U2, bit_pos: U4, cell_nam: Sn }
    /// Scan Structure Record (V4-2007).
    Ssr<'a>, SsrCols = (1, 93, "SSR") { ssr_nam: Cn, chn_cnt: U2, chn_list: [U2; chn_cnt] }
    /// Chain Description Record (V4-2007).
    Cdr<'a>, CdrCols = (1, 94, "CDR") {
        cont_flg: B1, cdr_indx: U2, chn_nam: Cn, chn_len: U4, sin_pin: U2, sout_pin: U2,
        mstr_cnt: U1, m_clks: [U2; mstr_cnt], slav_cnt: U1, s_clks: [U2; slav_cnt], inv_val: U1,
        lst_cnt: U2, cell_lst: [Sn; lst_cnt],
    }
    /// Wafer Information Record.
    Wir<'a>, WirCols = (2, 10, "WIR") { head_num: U1, site_grp: U1, start_t: U4, wafer_id: Cn }
    /// Wafer Results Record.
    Wrr<'a>, WrrCols = (2, 20, "WRR") {
        head_num: U1, site_grp: U1, finish_t: U4, part_cnt: U4, rtst_cnt: U4, abrt_cnt: U4,
        good_cnt: U4, func_cnt: U4, wafer_id: Cn, fabwf_id: Cn, frame_id: Cn, mask_id: Cn,
        usr_desc: Cn, exc_desc: Cn,
    }
    /// Wafer Configuration Record.
    Wcr, WcrCols = (2, 30, "WCR") {
        wafr_siz: R4, die_ht: R4, die_wid: R4, wf_units: U1, wf_flat: C1, center_x: I2, center_y: I2,
        pos_x: C1, pos_y: C1,
    }
    /// Part Information Record.
    Pir, PirCols = (5, 10, "PIR") { head_num: U1, site_num: U1 }
    /// Part Results Record.
    Prr<'a>, PrrCols = (5, 20, "PRR") {
        head_num: U1, site_num: U1, part_flg: B1, num_test: U2, hard_bin: U2, soft_bin: U2,
        x_coord: I2, y_coord: I2, test_t: U4, part_id: Cn, part_txt: Cn, part_fix: Bn,
    }
    /// Test Synopsis Record.
    Tsr<'a>, TsrCols = (10, 30, "TSR") {
        head_num: U1, site_num: U1, test_typ: C1, test_num: U4, exec_cnt: U4, fail_cnt: U4,
        alrm_cnt: U4, test_nam: Cn, seq_name: Cn, test_lbl: Cn, opt_flag: B1, test_tim: R4,
        test_min: R4, test_max: R4, tst_sums: R4, tst_sqrs: R4,
    }
    /// Parametric Test Record.
    Ptr<'a>, PtrCols = (15, 10, "PTR") {
        test_num: U4, head_num: U1, site_num: U1, test_flg: B1, parm_flg: B1, result: R4,
        test_txt: Cn, alarm_id: Cn, opt_flag: B1, res_scal: I1, llm_scal: I1, hlm_scal: I1,
        lo_limit: R4, hi_limit: R4, units: Cn, c_resfmt: Cn, c_llmfmt: Cn, c_hlmfmt: Cn,
        lo_spec: R4, hi_spec: R4,
    }
    /// Multiple-Result Parametric Record.
    Mpr<'a>, MprCols = (15, 15, "MPR") {
        test_num: U4, head_num: U1, site_num: U1, test_flg: B1, parm_flg: B1, rtn_icnt: U2,
        rslt_cnt: U2, rtn_stat: [N1; rtn_icnt], rtn_rslt: [R4; rslt_cnt], test_txt: Cn,
        alarm_id: Cn, opt_flag: B1, res_scal: I1, llm_scal: I1, hlm_scal: I1, lo_limit: R4,
        hi_limit: R4, start_in: R4, incr_in: R4, rtn_indx: [U2; rtn_icnt], units: Cn,
        units_in: Cn, c_resfmt: Cn, c_llmfmt: Cn, c_hlmfmt: Cn, lo_spec: R4, hi_spec: R4,
    }
    /// Functional Test Record.
    Ftr<'a>, FtrCols = (15, 20, "FTR") {
        test_num: U4, head_num: U1, site_num: U1, test_flg: B1, opt_flag: B1, cycl_cnt: U4,
        rel_vadr: U4, rept_cnt: U4, num_fail: U4, xfail_ad: I4, yfail_ad: I4, vect_off: I2,
        rtn_icnt: U2, pgm_icnt: U2, rtn_indx: [U2; rtn_icnt], rtn_stat: [N1; rtn_icnt],
        pgm_indx: [U2; pgm_icnt], pgm_stat: [N1; pgm_icnt], fail_pin: DnK, vect_nam: Cn,
        time_set: Cn, op_code: Cn, test_txt: Cn, alarm_id: Cn, prog_txt: Cn, rslt_txt: Cn,
        patg_num: U1, spin_map: DnK,
    }
    /// Begin Program Section Record.
    Bps<'a>, BpsCols = (20, 10, "BPS") { seq_name: Cn }
    /// End Program Section Record.
    Eps, EpsCols = (20, 20, "EPS") {}
    /// Generic Data Record: FLD_CNT typed values.
    Gdr<'a>, GdrCols = (50, 10, "GDR") { fld_cnt: U2, gen_data: [Vn; fld_cnt] }
    /// Datalog Text Record.
    Dtr<'a>, DtrCols = (50, 30, "DTR") { text_dat: Cn }
}
