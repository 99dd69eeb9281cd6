//! A tiny classic-BPF assembler with labels: conditional jumps whose
//! target lies beyond 255 instructions get a `ja` trampoline.

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const LD_W_ABS: u16 = 0x20;
pub const JEQ: u16 = 0x15;
pub const JGT: u16 = 0x25;
pub const JGE: u16 = 0x35;
pub const JA: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const AND: u16 = 0x54;

pub type Label = usize;

#[derive(Debug, Clone)]
enum Ins {
    Stmt(u16, u32),
    Jump(u16, u32, Label, Label),
    Ja(Label),
    Mark(Label),
}

#[derive(Default)]
pub struct Asm {
    code: Vec<Ins>,
    labels: usize,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        self.labels
    }

    pub fn mark(&mut self, l: Label) {
        self.code.push(Ins::Mark(l));
    }

    pub fn stmt(&mut self, code: u16, k: u32) {
        self.code.push(Ins::Stmt(code, k));
    }

    /// `if (A <op> k) goto t else goto f`.
    pub fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.code.push(Ins::Jump(code, k, t, f));
    }

    pub fn ja(&mut self, l: Label) {
        self.code.push(Ins::Ja(l));
    }

    pub fn ret(&mut self, action: u32) {
        self.stmt(RET, action);
    }

    fn positions(&self) -> Vec<usize> {
        let mut pos = vec![0; self.labels + 1];
        let mut n = 0;
        for i in &self.code {
            match i {
                Ins::Mark(l) => pos[*l] = n,
                _ => n += 1,
            }
        }
        pos
    }

    /// Resolves labels into a program.
    pub fn finish(mut self) -> Vec<SockFilter> {
        loop {
            let pos = self.positions();
            let mut n = 0;
            let mut fix = None;
            for (idx, i) in self.code.iter().enumerate() {
                match i {
                    Ins::Mark(_) => continue,
                    Ins::Jump(_, _, t, f) => {
                        if pos[*t] - n - 1 > 255 {
                            fix = Some((idx, true));
                        } else if pos[*f] - n - 1 > 255 {
                            fix = Some((idx, false));
                        }
                    }
                    _ => {}
                }
                if fix.is_some() {
                    break;
                }
                n += 1;
            }
            let Some((idx, is_true)) = fix else { break };
            let tramp = self.label();
            let Ins::Jump(code, k, t, f) = self.code[idx].clone() else { unreachable!("fix points at a jump") };
            let far = if is_true { t } else { f };
            self.code[idx] = if is_true { Ins::Jump(code, k, tramp, f) } else { Ins::Jump(code, k, t, tramp) };
            self.code.insert(idx + 1, Ins::Mark(tramp));
            self.code.insert(idx + 2, Ins::Ja(far));
        }
        let pos = self.positions();
        let mut out = Vec::new();
        for i in &self.code {
            let n = out.len();
            match *i {
                Ins::Mark(_) => {}
                Ins::Stmt(code, k) => out.push(SockFilter { code, jt: 0, jf: 0, k }),
                Ins::Jump(code, k, t, f) => {
                    out.push(SockFilter { code, jt: (pos[t] - n - 1) as u8, jf: (pos[f] - n - 1) as u8, k })
                }
                Ins::Ja(l) => out.push(SockFilter { code: JA, jt: 0, jf: 0, k: (pos[l] - n - 1) as u32 }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_jumps_get_trampolines() {
        let mut a = Asm::default();
        let (far, near) = (a.label(), a.label());
        a.jump(JEQ, 1, far, near);
        a.mark(near);
        for _ in 0..300 {
            a.stmt(LD_W_ABS, 0);
        }
        a.mark(far);
        a.ret(0);
        let p = a.finish();
        assert_eq!(p[0].jt, 0, "the true branch goes to the trampoline right after");
        assert_eq!(p[1].code, JA);
        assert_eq!(1 + 1 + p[1].k as usize, p.len() - 1, "the trampoline reaches the far label");
        assert_eq!(p[0].jf, 1, "the false branch skips the trampoline");
    }
}
