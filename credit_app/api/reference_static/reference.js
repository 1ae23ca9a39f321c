// Starts Swagger UI on the reference page (a file, not an inline script: the page's
// Content-Security-Policy allows scripts from this origin only).
window.addEventListener("load", function () {
  var target = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: target.dataset.openapiUrl,
    domNode: target,
    // Off: its permalinks are links nested in each operation's toggle button, which
    // screen readers cannot reach (axe: nested-interactive).
    deepLinking: false,
    // "Try it out" sends real requests with the key typed into "Authorize".
    tryItOutEnabled: false,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    onComplete: function () {
      // Swagger UI's server picker has a visible title but no label tied to it.
      var servers = document.getElementById("servers");
      if (servers) servers.setAttribute("aria-label", "Server");
    },
  });
});
