// SmartSlot's Swagger UI start-up (a file, not an inline script, so the page's CSP can forbid inline code).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // offline: never ask an outside validator about the document
    persistAuthorization: true,
  });
};
