# The few nixpkgs lib functions the stubs need (generated modules use none of lib themselves).
rec {
  mkDefault = v: v;
  mkForce = v: v;
  # Like lib.recursiveUpdate: attribute sets merge key by key, anything else is replaced by the right side.
  recursiveUpdate =
    a: b:
    a
    // builtins.mapAttrs (
      n: v: if builtins.isAttrs v && builtins.isAttrs (a.${n} or null) then recursiveUpdate a.${n} v else v
    ) b;
}
