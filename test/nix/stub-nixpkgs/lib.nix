# A small stand-in for nixpkgs' `lib`: exactly the functions sshscrape's Nix files (flake.nix, nix/*.nix,
# the VM test) call, with nixpkgs' semantics, plus a minimal module system (see README.md). nixpkgs itself
# cannot be downloaded on the CI machines; this is enough to evaluate our code offline with Nix 2.8.
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    genList
    head
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    tail
    ;

  lib = rec {
    inherit
      attrNames
      concatLists
      concatStringsSep
      elem
      filter
      foldl'
      head
      length
      listToAttrs
      mapAttrs
      tail
      ;

    # --- lists
    last = l: builtins.elemAt l (length l - 1);
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: l: if c then l else [ ];
    concatMap = f: l: concatLists (map f l);
    imap0 = f: l: genList (i: f i (builtins.elemAt l i)) (length l);
    imap1 = f: l: genList (i: f (i + 1) (builtins.elemAt l i)) (length l);
    drop = n: l: genList (i: builtins.elemAt l (i + n)) (if length l > n then length l - n else 0);
    toList = x: if isList x then x else [ x ];
    reverseList = l: genList (i: builtins.elemAt l (length l - 1 - i)) (length l);
    count = pred: l: length (filter pred l);
    any = builtins.any;
    all = builtins.all;
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    subtractLists = remove: filter (x: !(elem x remove));
    concatMapStringsSep = sep: f: l: concatStringsSep sep (map f l);

    # --- strings
    hasInfix = infix: s: builtins.match ".*${escapeRegex infix}.*" s != null;
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    hasSuffix =
      p: s:
      let
        ls = builtins.stringLength s;
        lp = builtins.stringLength p;
      in
      lp <= ls && builtins.substring (ls - lp) lp s == p;
    concatStrings = concatStringsSep "";
    removePrefix =
      p: s:
      if hasPrefix p s then
        builtins.substring (builtins.stringLength p) (builtins.stringLength s - builtins.stringLength p) s
      else
        s;
    replaceStrings = builtins.replaceStrings;
    optionalString = c: s: if c then s else "";
    escapeRegex =
      let
        special = [ "\\" "[" "{" "(" ")" "^" "$" "?" "*" "+" "|" "." ];
      in
      builtins.replaceStrings special (map (c: "\\" + c) special);
    splitString =
      sep: s:
      let
        parts = builtins.split (escapeRegex sep) s;
      in
      filter isString parts;
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if builtins.match "[[:alnum:],._+:@%/-]+" s != null then
        s
      else
        "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'";
    escapeShellArgs = l: concatStringsSep " " (map escapeShellArg l);
    strings = {
      # nixpkgs lib/strings.nix: JSON-quote, then escape "$"; bare when a valid, non-keyword identifier.
      escapeNixString = s: builtins.replaceStrings [ "$" ] [ "\\$" ] (builtins.toJSON s);
      escapeNixIdentifier =
        s:
        if
          builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null
          && !(elem s [
            "assert"
            "else"
            "if"
            "in"
            "inherit"
            "let"
            "or"
            "rec"
            "then"
            "with"
          ])
        then
          s
        else
          strings.escapeNixString s;
    };

    # --- attrsets
    genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    filterAttrs =
      pred: set:
      listToAttrs (
        concatMap (
          n:
          let
            v = set.${n};
          in
          optional (pred n v) { name = n; value = v; }
        ) (attrNames set)
      );
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    optionalAttrs = c: set: if c then set else { };
    mergeAttrs = a: b: a // b;
    attrByPath =
      path: default: set:
      if path == [ ] then
        set
      else if isAttrs set && set ? ${head path} then
        attrByPath (tail path) default set.${head path}
      else
        default;
    getAttrFromPath = path: set: attrByPath path (throw "cannot find attribute `${concatStringsSep "." path}'") set;
    setAttrByPath = path: value: if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
    attrValues = set: map (n: set.${n}) (attrNames set);
    recursiveUpdate =
      lhs: rhs:
      lhs
      // mapAttrs (
        n: v: if isAttrs v && lhs ? ${n} && isAttrs lhs.${n} && !(isDerivation v) then recursiveUpdate lhs.${n} v else v
      ) rhs;
    isDerivation = v: isAttrs v && (v.type or null) == "derivation";
    importJSON = path: builtins.fromJSON (builtins.readFile path);

    # --- misc nixpkgs bits
    getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram}";
    licenses.mit = {
      spdxId = "MIT";
      shortName = "mit";
    };
    fetchers.proxyImpureEnvVars = [
      "http_proxy"
      "https_proxy"
      "ftp_proxy"
      "all_proxy"
      "no_proxy"
      "HTTP_PROXY"
      "HTTPS_PROXY"
      "FTP_PROXY"
      "ALL_PROXY"
      "NO_PROXY"
    ];
    # lib.fileset: the whole root (the stub does not filter; a flake source already holds only git files).
    fileset = {
      toSource = { root, fileset }: builtins.seq fileset root;
      unions = l: builtins.seq (length l) l;
      maybeMissing = p: p;
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };

    assertMsg = pred: msg: pred || builtins.throw msg;
    nixosSystem = args: import ./nixos/eval.nix ({ inherit lib; } // args);

    # --- module system (see README.md: what it does and does not do)
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        description = "Whether to enable ${name}.";
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkOrder = priority: content: {
      _type = "order";
      inherit priority content;
    };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    # lib/modules.nix mkAliasOptionModule: `from` takes definitions for `to` and reads its value.
    mkAliasOptionModule = from: to: {
      options = setAttrByPath from (mkOption {
        type = types.anything;
        _aliasOf = to;
        description = "Alias of {option}`${concatStringsSep "." to}`.";
      });
    };
    inherit (types) mkOptionType mergeEqualOption mergeOneOption;
    options = { inherit (types) mergeEqualOption mergeOneOption; };

    types = import ./types.nix { inherit lib; };
    inherit (import ./modules.nix { inherit lib; }) evalModules;
  };
in
lib
