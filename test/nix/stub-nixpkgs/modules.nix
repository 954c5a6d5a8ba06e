# A minimal module system with nixpkgs' semantics for what sshscrape's modules use (see README.md):
# modules as paths, functions or attrsets with `imports`/`options`/`config`; mkIf, mkMerge, mkOverride
# (mkDefault/mkForce) with priorities; option defaults; type checks; submodules with `name`; an error for
# every definition of an undeclared option. Not implemented: freeformType, mkOrder/mkBefore, mkAliasOptionModule,
# option `apply`, `_module.args`, `disabledModules`.
{ lib }:

let
  inherit (builtins)
    attrNames
    concatLists
    filter
    foldl'
    isAttrs
    isFunction
    isList
    isPath
    isString
    mapAttrs
    ;

  showPath = path: builtins.concatStringsSep "." path;

  isOption = v: isAttrs v && (v._type or null) == "option";

  defaultPriority = 100;
  optionDefaultPriority = 1500;

  # Definitions -> [ { priority; value; } ] with mkIf/mkMerge resolved at this level.
  flattenDef =
    prio: def:
    if isAttrs def && def ? _type then
      if def._type == "if" then
        (
          if !builtins.isBool def.condition then
            throw "stub lib: mkIf called with a non-Boolean condition"
          else if def.condition then
            flattenDef prio def.content
          else
            [ ]
        )
      else if def._type == "merge" then
        concatLists (map (flattenDef prio) def.contents)
      else if def._type == "override" then
        flattenDef def.priority def.content
      else
        [
          {
            priority = prio;
            value = def;
          }
        ]
    else
      [
        {
          priority = prio;
          value = def;
        }
      ];

  # Values of the highest priority (lowest number), as the real module system keeps.
  discharge =
    defs:
    let
      flat = concatLists (map (flattenDef defaultPriority) defs);
      best = foldl' (m: d: if d.priority < m then d.priority else m) 99999 flat;
    in
    map (d: d.value) (filter (d: d.priority == best) flat);

  # Push definitions below a non-option node: [def] -> attrs of [def], keeping mkIf/mkOverride conditions
  # on each child so attribute names never depend on option values (the real system's pushDownProperties).
  pushDown =
    def:
    if isAttrs def && def ? _type then
      if def._type == "if" then
        map (mapAttrs (_: v: lib.mkIf def.condition v)) (pushDown def.content)
      else if def._type == "merge" then
        concatLists (map pushDown def.contents)
      else if def._type == "override" then
        map (mapAttrs (_: v: lib.mkOverride def.priority v)) (pushDown def.content)
      else
        throw "stub lib: unexpected ${def._type} above an option"
    else if isAttrs def then
      [ def ]
    else
      throw "stub lib: a definition above an option must be an attribute set";

  evalOption =
    path: opt: defs:
    let
      values = discharge defs;
      withDefault =
        if values != [ ] then
          values
        else if opt ? default then
          discharge [ (lib.mkOverride optionDefaultPriority opt.default) ]
        else
          throw "stub lib: the option `${showPath path}' is used but not defined.";
      bad = filter (v: !(opt.type.check v)) withDefault;
    in
    if bad != [ ] then
      throw "stub lib: a definition of `${showPath path}' is not of type `${opt.type.description}': ${
        builtins.toJSON (builtins.head bad)
      }"
    else
      opt.type.merge path withDefault;

  evalTree =
    path: decls: defs:
    if isOption decls then
      evalOption path decls defs
    else
      let
        pushed = concatLists (map pushDown defs);
        undeclared = filter (n: !(decls ? ${n})) (lib.unique (concatLists (map attrNames pushed)));
      in
      if undeclared != [ ] then
        throw "stub lib: the option `${showPath (path ++ [ (builtins.head undeclared) ])}' does not exist (not declared by any module)."
      else
        mapAttrs (
          name: sub: evalTree (path ++ [ name ]) sub (map (d: d.${name}) (filter (d: d ? ${name}) pushed))
        ) decls;

  # Merge option declarations of several modules into one tree.
  mergeDecls =
    path: a: b:
    if isOption a || isOption b then
      throw "stub lib: the option `${showPath path}' is declared twice."
    else
      a // mapAttrs (n: v: if a ? ${n} then mergeDecls (path ++ [ n ]) a.${n} v else v) b;

  evalModules =
    {
      modules,
      specialArgs ? { },
      prefix ? [ ],
    }:
    let
      args = {
        inherit lib config options;
      }
      // specialArgs;

      load =
        m:
        let
          imported = if isPath m || isString m then import m else m;
          applied = if isFunction imported then imported args else imported;
          # As lib/modules.nix: `options` or `config` make a module structured; otherwise every attribute
          # except the module-system keys is configuration.
          structured = applied ? options || applied ? config;
        in
        {
          imports = applied.imports or [ ];
          options = if structured then applied.options or { } else { };
          config =
            if structured then
              applied.config or { }
            else
              builtins.removeAttrs applied [
                "imports"
                "_file"
                "key"
                "meta"
                "disabledModules"
              ];
        };

      collect = ms: concatLists (map (m: let l = load m; in [ l ] ++ collect l.imports) ms);
      all = collect modules;

      options = foldl' (mergeDecls prefix) { } (map (m: m.options) all);
      config = evalTree prefix options (map (m: m.config) all);
    in
    {
      inherit config options;
    };
in
{
  inherit discharge evalModules showPath;
}
