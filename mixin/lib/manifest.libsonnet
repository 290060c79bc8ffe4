// The text of the generated files. The entry points (mixin/*.jsonnet) return
// { file name: text } made with these, so `jsonnet -S -m <dir> mixin/<entry>.jsonnet`
// alone writes the committed files, and `python -m tools.build` writes the same text.
//
// Why not std.manifestYamlDoc / std.manifestJsonEx: in jsonnet 0.18 (Debian's) and 0.22
// (PyPI's) they escape strings one character at a time in jsonnet, which took 45 s for
// the alert files; they also spell 0.8 as 0.80000000000000004 and [] as "[\n\n]". Here
// `'' + [s]` is the VM's own, native JSON escaping, and std.substr a native cut.
local string(s) = local j = '' + [s]; std.substr(j, 1, std.length(j) - 2);
local number(n) =
  local shortest(p) = local s = '%%.%dg' % p % n; if std.parseJson(s) == n then s else shortest(p + 1);
  if n == std.floor(n) then '' + n else shortest(1);  // 5000000, 0.8
local empty(v) = (std.isObject(v) || std.isArray(v)) && std.length(v) == 0;
local scalar(v) =
  if std.isString(v) then string(v)
  else if std.isNumber(v) then number(v)
  else if empty(v) then (if std.isArray(v) then '[]' else '{}')
  else std.toString(v);  // true, false, null

{
  // JSON indented by two spaces, as Grafana exports a dashboard.
  json(value)::
    local aux(v, indent) =
      local inner = indent + '  ';
      local block(open, items, close) =
        if std.length(items) == 0 then open + close
        else open + '\n' + std.join(',\n', [inner + i for i in items]) + '\n' + indent + close;
      if std.isObject(v) then
        block('{', [string(k) + ': ' + aux(v[k], inner) for k in std.objectFields(v)], '}')
      else if std.isArray(v) then block('[', [aux(x, inner) for x in v], ']')
      else scalar(v);
    aux(value, ''),

  // A YAML document under a header comment. Keys in `order` come first, in that order (a
  // rule reads alert, expr, for, labels, annotations), any other key after them, sorted:
  // nothing is dropped. Strings are double-quoted (JSON escapes are YAML escapes), except
  // multi-line ones ending in one newline, which become `|` blocks (readable PromQL).
  yaml(header, doc, order=[])::
    local keys(o) = [k for k in order if std.objectHas(o, k)]
                    + [k for k in std.objectFields(o) if !std.member(order, k)];
    // A key that YAML reads as a string without quotes: [a-z_]+, and not a YAML 1.1 word.
    local plainKey(k) =
      local other(c) = local p = std.codepoint(c); p != 95 && (p < 97 || p > 122);
      std.length(k) > 0 && std.length([c for c in std.stringChars(k) if other(c)]) == 0
      && !std.member(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null'], k);
    // PyYAML (YAML 1.1) reads 1e-05 as a string, 1.0e-05 as a number.
    local yamlScalar(v) =
      local s = scalar(v);
      if std.isNumber(v) && std.length(std.findSubstr('e', s)) > 0 && std.length(std.findSubstr('.', s)) == 0
      then std.strReplace(s, 'e', '.0e') else s;
    local isBlock(s) = std.isString(s) && std.length(s) > 1 && s[std.length(s) - 1] == '\n'
                       && s[std.length(s) - 2] != '\n' && s[0] != ' ' && s[0] != '\t';
    // `v` after "key:" or "- ", its nested lines indented by `indent`.
    local value(v, indent) =
      if isBlock(v) then
        '|\n' + std.join('\n', [if l == '' then '' else indent + l
                                for l in std.split(std.substr(v, 0, std.length(v) - 1), '\n')])
      else if empty(v) || !(std.isObject(v) || std.isArray(v)) then yamlScalar(v)
      else '\n' + lines(v, indent),
    lines(v, indent) =
      // A field is evaluated again at each access (jsonnet does not cache it): read it once.
      if std.isObject(v) then std.join('\n', [
        local f = v[k];
        indent + (if plainKey(k) then k else string(k)) + ':'
        + (if std.isArray(f) && !empty(f) then '\n' + lines(f, indent)  // lists sit under their key
           else local x = value(f, indent + '  '); (if x[0] == '\n' then '' else ' ') + x)
        for k in keys(v)
      ])
      else std.join('\n', [
        // "- " takes the place of the item's first indent.
        local x = value(item, indent + '  ');
        indent + '- ' + (if x[0] == '\n' then std.substr(x, std.length(indent) + 3, std.length(x)) else x)
        for item in v
      ]);
    '# ' + header + '\n' + (if empty(doc) || !(std.isObject(doc) || std.isArray(doc)) then yamlScalar(doc) else lines(doc, '')),
}
