// The browser's time zone (an IANA name such as "Europe/Paris") in the `tz` cookie, which
// the server reads at sign-up and log-in to store the account's zone the first time. A
// static file because the Content-Security-Policy runs scripts from this origin only.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (typeof zone === "string" && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) {
      document.cookie =
        "tz=" + zone + "; path=/; max-age=31536000; samesite=strict" +
        (location.protocol === "https:" ? "; secure" : "");
    }
  } catch (e) {
    // No Intl time zone support: the account keeps UTC until one is chosen.
  }
})();
