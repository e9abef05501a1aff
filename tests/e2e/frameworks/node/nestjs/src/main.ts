import * as fs from 'fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { closeServer, port } from '../../common/tracing';
import {
  AuthController, CartController, CatalogController, FilesController, HealthController, OrdersController,
  ProductsController, ReportsController, UsersController,
} from './shop.controllers';
import { AdminController, InternalController } from './hidden.controllers';

@Module({
  controllers: [
    HealthController, AuthController, ProductsController, CatalogController, UsersController, OrdersController,
    CartController, FilesController, ReportsController, AdminController, InternalController,
  ],
})
class AppModule {}

export async function main({ specOut, tracing }: { specOut: string | null; tracing: any }) {
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  if (specOut) {
    const config = new DocumentBuilder()
      .setTitle('Shop API (NestJS)')
      .setVersion(require('@nestjs/core/package.json').version)
      .addBearerAuth()
      .build();
    fs.writeFileSync(specOut, JSON.stringify(SwaggerModule.createDocument(app, config), null, 2));
    await app.close();
    return;
  }
  await app.listen(port(), '127.0.0.1');
  process.stdout.write(`nestjs ${require('@nestjs/core/package.json').version} listening on 127.0.0.1:${port()}\n`);
  tracing.onShutdown(() => closeServer(app.getHttpServer()));
}
