// A small XML well-formedness check for the SVG tests (no XML parser is installed): XML
// declaration, one root, balanced and properly nested tags, quoted unique attributes, and only
// the predefined or numeric entity references. Returns the element names in document order.

const NAME = /^[A-Za-z_][\w.:-]*$/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);/y;

function checkText(text: string, where: string): void {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '<') throw new Error(`raw '<' in ${where}`);
    if (text[i] === '&') {
      ENTITY.lastIndex = i;
      if (!ENTITY.test(text)) throw new Error(`bad entity in ${where} at "${text.slice(i, i + 10)}"`);
    }
  }
}

export function checkWellFormedXml(doc: string): string[] {
  let s = doc;
  if (s.startsWith('<?xml')) {
    const end = s.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    s = s.slice(end + 2);
  }
  const stack: string[] = [];
  const elements: string[] = [];
  let roots = 0;
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    if (stack.length === 0 && text.trim()) throw new Error(`text outside the root: "${text.trim().slice(0, 20)}"`);
    checkText(text, 'text');
    if (lt < 0) break;
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = s.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([^\s/>]+)(.*)$/s.exec(body);
    if (!m || !NAME.test(m[1])) throw new Error(`bad tag <${tag.slice(0, 20)}>`);
    if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
    const seen = new Set<string>();
    const attrRe = /\s+([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/gy;
    let rest = m[2];
    let pos = 0;
    attrRe.lastIndex = 0;
    for (let a = attrRe.exec(rest); a; a = attrRe.exec(rest)) {
      if (!NAME.test(a[1])) throw new Error(`bad attribute name ${a[1]}`);
      if (seen.has(a[1])) throw new Error(`duplicate attribute ${a[1]} on <${m[1]}>`);
      seen.add(a[1]);
      checkText(a[3] ?? a[4], `attribute ${a[1]}`);
      pos = attrRe.lastIndex;
    }
    rest = rest.slice(pos);
    if (rest.trim()) throw new Error(`unparsable attributes on <${m[1]}>: "${rest.trim().slice(0, 30)}"`);
    elements.push(m[1]);
    if (!selfClosing) stack.push(m[1]);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]}>`);
  if (roots !== 1) throw new Error('no root element');
  return elements;
}
