# A small module system with nixpkgs' semantics (lib/modules.nix) for everything sshscrape's modules, the
# NixOS stand-in (nixos/options.nix) and generated files use (see README.md):
# - modules as paths, functions or attribute sets; `imports`; `_file`; `options`/`config` or shorthand;
#   a top-level `freeformType` (undeclared definitions are merged with it instead of being errors);
# - modules in nixpkgs' order (breadth first, definitions of equal priority in reverse: see `closure`);
# - definitions carry the file they come from; mkIf/mkMerge are discharged, mkOverride (mkDefault,
#   mkForce, option defaults at 1500) keeps the definitions of the best priority, mkOrder
#   (mkBefore 500, default 1000, mkAfter 1500) sorts them stably before the type merges them;
# - properties above an option are pushed down to it, so attribute names never depend on option values;
# - an error for every definition of an undeclared option, and nixpkgs' type-check message;
# - option `apply`; mkAliasOptionModule (definitions of the alias go to the target option, the alias reads
#   the target's value).
# Not implemented (the modules must not rely on them): `_module.args`, `disabledModules`, `extendModules`,
# `options.<o>.definitions`/`files`, mkRenamedOptionModule's warnings.
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

  showOption = path: builtins.concatStringsSep "." path;
  showFiles = files: builtins.concatStringsSep ", " (lib.unique (map toString files));

  isOption = v: isAttrs v && (v._type or null) == "option";

  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  # lib/modules.nix dischargeProperties: mkIf and mkMerge go, mkOverride and mkOrder stay for later.
  dischargeProperties =
    def:
    if isAttrs def && (def._type or null) == "merge" then
      concatLists (map dischargeProperties def.contents)
    else if isAttrs def && (def._type or null) == "if" then
      if !builtins.isBool def.condition then
        throw "mkIf called with a non-Boolean condition"
      else if def.condition then
        dischargeProperties def.content
      else
        [ ]
    else
      [ def ];

  # filterOverrides: only the definitions with the best (lowest) override priority survive.
  filterOverrides =
    defs:
    let
      prio = d: if (d.value._type or null) == "override" then d.value.priority else defaultOverridePriority;
      best = foldl' (m: d: if prio d < m then prio d else m) 9999 defs;
      strip = d: if (d.value._type or null) == "override" then d // { value = d.value.content; } else d;
    in
    map strip (filter (d: prio d == best) defs);

  # sortProperties: a stable sort by mkOrder priority.
  sortProperties =
    defs:
    let
      strip =
        d:
        if (d.value._type or null) == "order" then
          d
          // {
            value = d.value.content;
            inherit (d.value) priority;
          }
        else
          d // { priority = defaultOrderPriority; };
      stripped = map strip defs;
      prios = lib.unique (builtins.sort builtins.lessThan (map (d: d.priority) stripped));
    in
    concatLists (map (p: map (d: removeAttrs d [ "priority" ]) (filter (d: d.priority == p) stripped)) prios);

  # pushDownProperties: a property above an attribute set applies to each of its attributes.
  pushDownProperties =
    cfg:
    if isAttrs cfg && (cfg._type or null) == "merge" then
      concatLists (map pushDownProperties cfg.contents)
    else if isAttrs cfg && (cfg._type or null) == "if" then
      map (mapAttrs (_: v: lib.mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if isAttrs cfg && (cfg._type or null) == "override" then
      map (mapAttrs (_: v: lib.mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else if isAttrs cfg && cfg ? _type then
      throw "unexpected ${cfg._type} above an option"
    else
      [ cfg ];

  # [ { file; value; } ] with the definitions a type merges: discharged, best priority, ordered.
  finalDefs =
    defs:
    sortProperties (
      filterOverrides (concatLists (map (d: map (value: d // { inherit value; }) (dischargeProperties d.value)) defs))
    );

  # mergeDefinitions: type-check every definition, then merge (nixpkgs' wording, so tests match both libs).
  mergeDefinitions =
    loc: type: defs:
    let
      final = finalDefs defs;
      bad = filter (d: !(type.check d.value)) final;
    in
    {
      isDefined = final != [ ];
      value =
        if bad != [ ] then
          throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:\n- In `${toString (builtins.head bad).file}': ${
            builtins.toJSON (builtins.head bad).value
          }"
        else
          type.merge loc final;
    };

  evalOption =
    loc: opt: defs:
    let
      withDefault =
        defs
        ++ lib.optional (opt ? default) {
          file = "<default>";
          value = lib.mkOptionDefault opt.default;
        };
      merged = mergeDefinitions loc opt.type withDefault;
      value =
        if merged.isDefined then
          merged.value
        else
          throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";
    in
    if opt ? apply then opt.apply value else value;

  # Definitions below `path` ([ name ... ]), starting from the modules' top-level definitions.
  defsAt =
    path: defs:
    if path == [ ] then
      defs
    else
      let
        name = builtins.head path;
        pushed = concatLists (map (d: map (value: d // { inherit value; }) (pushDownProperties d.value)) defs);
      in
      defsAt (builtins.tail path) (
        map (d: d // { value = d.value.${name}; }) (filter (d: d.value ? ${name}) pushed)
      );

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
        file: m:
        let
          imported = if isPath m || isString m then import m else m;
          applied = if isFunction imported then imported args else imported;
          file' = if isPath m || isString m then toString m else applied._file or file;
          # As lib/modules.nix: `options` or `config` make a module structured; otherwise every attribute
          # except the module-system keys is configuration.
          structured = applied ? options || applied ? config;
        in
        {
          file = file';
          imports = map (load file') (applied.imports or [ ]);
          options = if structured then applied.options or { } else { };
          freeformType = applied.freeformType or null;
          config =
            if structured then
              applied.config or { }
            else
              removeAttrs applied [
                "imports"
                "_file"
                "key"
                "meta"
                "disabledModules"
                "freeformType"
              ];
        };

      # lib/modules.nix collects modules with builtins.genericClosure: the given modules, then what they
      # import, in order of discovery (breadth first); definitions of equal priority and order then come in
      # the reverse of that order (so a later module's list elements and lines come first).
      closure = queue: if queue == [ ] then [ ] else [ (builtins.head queue) ] ++ closure (builtins.tail queue ++ (builtins.head queue).imports);
      all = lib.reverseList (closure (map (load "<unknown-file>") modules));

      options = foldl' (mergeDecls prefix) { } (map (m: m.options) all);
      freeformTypes = filter (t: t != null) (map (m: m.freeformType) all);
      topDefs = map (m: {
        inherit (m) file;
        value = m.config;
      }) all;

      # Aliases (mkAliasOptionModule): target path -> alias paths.
      aliases = collectAliases [ ] options;
      aliasDefs =
        path: concatLists (map (a: defsAt a.from topDefs) (filter (a: prefix ++ a.to == path) aliases));

      evalTree =
        path: decls: defs:
        if isOption decls then
          if decls ? _aliasOf then
            lib.attrByPath decls._aliasOf (throw "alias target missing") config
          else
            evalOption path decls (defs ++ aliasDefs path)
        else
          let
            pushed = concatLists (map (d: map (value: d // { inherit value; }) (pushDownProperties d.value)) defs);
            names = lib.unique (concatLists (map (d: attrNames d.value) pushed));
            undeclared = filter (n: !(decls ? ${n})) names;
            defsOf = name: map (d: d // { value = d.value.${name}; }) (filter (d: d.value ? ${name}) pushed);
            declared = mapAttrs (name: sub: evalTree (path ++ [ name ]) sub (defsOf name)) decls;
            freeform =
              if path == prefix && freeformTypes != [ ] then
                (mergeDefinitions path (builtins.head freeformTypes) (
                  map (d: d // { value = lib.filterAttrs (n: _: !(decls ? ${n})) d.value; }) pushed
                )).value
              else
                { };
          in
          if undeclared != [ ] && !(path == prefix && freeformTypes != [ ]) then
            let
              n = builtins.head undeclared;
            in
            throw "The option `${showOption (path ++ [ n ])}' does not exist. Definition values:\n- In `${
              toString (builtins.head (defsOf n)).file
            }'"
          else
            freeform // declared;

      config = evalTree prefix options topDefs;
    in
    {
      inherit config options;
    };

  collectAliases =
    path: decls:
    if isOption decls then
      lib.optional (decls ? _aliasOf) {
        from = path;
        to = decls._aliasOf;
      }
    else if isAttrs decls then
      concatLists (lib.mapAttrsToList (n: v: collectAliases (path ++ [ n ]) v) decls)
    else
      [ ];

  # Merge option declarations of several modules into one tree.
  mergeDecls =
    path: a: b:
    if isOption a || isOption b then
      throw "The option `${showOption path}' in `…' is already declared in `…'."
    else
      a // mapAttrs (n: v: if a ? ${n} then mergeDecls (path ++ [ n ]) a.${n} v else v) b;
in
{
  inherit
    evalModules
    mergeDefinitions
    pushDownProperties
    showOption
    showFiles
    ;
}
